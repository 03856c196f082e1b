// The recipients property (see recipients_check.hpp): the input decoder and a model of
// each promise, computed from the text rather than from core/recipients.cpp's code.
#include "test/fuzz/recipients_check.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "common/text.hpp"
#include "core/recipients.hpp"
#include "test/fuzz/check_failure.hpp"
#include "test/fuzz/check_text.hpp"

namespace smtpwall::fuzz {

namespace {

void require(bool ok, std::string_view what, std::string_view input, std::string_view detail = {}) {
    if (!ok) check_failed("recipients", what, kv_value(input), detail);
}

bool blank(char c) {
    return c == ' ' || c == '\t';
}

bool digit(char c) {
    return c >= '0' && c <= '9';
}

// ---- canonical_recipient ----

void check_canonical(std::string_view raw) {
    const std::string c = canonical_recipient(raw);
    require(c == with_case(c, false), "not lower case", raw, c);
    require(with_case(raw, false).find(c) != std::string::npos, "not a piece of its input", raw, c);
    for (const bool upper : {false, true})
        require(canonical_recipient(with_case(raw, upper)) == c, "letter case matters", raw, c);

    // A bare address: the angle brackets, blanks and a source route around it are dropped.
    const bool bare = !raw.empty() && !blank(raw.front()) && !blank(raw.back()) &&
                      !(raw.size() >= 2 && raw.front() == '<' && raw.back() == '>') &&
                      raw.front() != '@';
    if (!bare) return;
    require(c == with_case(raw, false), "a bare address changed beyond its case", raw, c);
    const std::string s(raw);
    for (const std::string& wrapped :
         {"<" + s + ">", " \t<" + s + "> ", "<@relay.example:" + s + ">",
          "<@relay.example,@other.example:" + s + ">", "\t<@Relay.Example:" + s + ">\t"})
        require(canonical_recipient(wrapped) == c, "brackets, blanks or a route change it", raw,
                wrapped);
}

// ---- AddressPatterns ----

struct Parts {
    bool has_at = false;
    std::string local, domain;
};

// Split at the last '@': a quoted local part may hold '@', a domain never does.
Parts parts(std::string_view canonical) {
    const auto at = canonical.rfind('@');
    if (at == std::string_view::npos) return {false, std::string(canonical), {}};
    return {true, std::string(canonical.substr(0, at)), std::string(canonical.substr(at + 1))};
}

// What smtpwall.conf accepts as a pattern (conf/milter_config.cpp, recipient_pattern).
bool config_pattern(std::string_view p) {
    const auto at = p.find('@');
    return at != std::string_view::npos && p.find('@', at + 1) == std::string_view::npos &&
           p.size() > 1 && p.find_first_of(" \t<>") == std::string_view::npos;
}

// The documented meaning of one pattern for a canonical recipient.
bool model_match(std::string_view pattern, std::string_view canonical) {
    const std::string p = with_case(pattern, false);
    const Parts r = parts(canonical);
    if (p.front() == '@') return r.has_at && r.domain == p.substr(1);
    if (p.back() == '@') return r.local == p.substr(0, p.size() - 1);
    return canonical == p;
}

void check_patterns(std::string_view raw, std::string_view other_raw) {
    const std::string c = canonical_recipient(raw);
    const std::string other = canonical_recipient(other_raw);
    require(!AddressPatterns().matches(c), "no patterns match something", raw, c);
    const Parts mine = parts(c);
    std::vector<std::string> patterns = {mine.local + "@"};
    if (mine.has_at) {
        patterns.push_back(c);
        patterns.push_back("@" + mine.domain);
    }
    for (const auto& p : patterns) {
        if (!config_pattern(p)) continue;
        for (const bool upper : {false, true}) {
            const AddressPatterns set({with_case(p, upper)});
            require(!set.empty(), "a pattern set is empty", raw, p);
            require(set.matches(c), "a pattern made from a recipient does not match it", raw, p);
            require(set.matches(other) == model_match(p, other),
                    "a pattern matches another recipient wrongly", raw, p + " vs " + other);
        }
    }
}

// ---- classify_mta_rejection ----

// "C.S.D": class 2, 4 or 5, subject and detail of 1 to 3 digits (RFC 3463).
bool enhanced_code(std::string_view s) {
    const auto fields = split(s, '.');
    if (fields.size() != 3 || fields[0].size() != 1 ||
        std::string_view("245").find(s[0]) == std::string_view::npos)
        return false;
    for (std::size_t i = 1; i < 3; ++i)
        if (fields[i].empty() || fields[i].size() > 3 ||
            fields[i].find_first_not_of("0123456789") != std::string_view::npos)
            return false;
    return true;
}

MtaRejection by_class(char c) {
    return c == '5'   ? MtaRejection::permanent
           : c == '4' ? MtaRejection::temporary
                      : MtaRejection::unknown;
}

void check_mta_rejection(std::string_view host, std::string_view addr) {
    const std::string input = kv_value(host) + " " + kv_value(addr);
    const MtaRejection r = classify_mta_rejection(host, addr);
    require(classify_mta_rejection(host, addr) == r, "not deterministic", input);
    if (r != MtaRejection::unknown) {
        const char want = r == MtaRejection::permanent ? '5' : '4';
        require((!host.empty() && host[0] == want) || (!addr.empty() && addr[0] == want),
                "a class no field starts with", input);
    }
    // Postfix: the enhanced status code alone in {rcpt_host}, whatever the text says.
    if (enhanced_code(host))
        require(r == by_class(host[0]), "Postfix's {rcpt_host} code misread", input);
    if (!host.empty()) return;
    // Sendmail: "550 5.1.1 User unknown" (or "550-..." of a multi-line reply) in
    // {rcpt_addr}; or a text that starts with the enhanced code.
    const bool reply = addr.size() >= 3 && digit(addr[0]) && digit(addr[1]) && digit(addr[2]) &&
                       (addr.size() == 3 || addr[3] == ' ' || addr[3] == '-');
    if (reply) require(r == by_class(addr[0]), "a reply code in {rcpt_addr} misread", input);
    const auto space = addr.find(' ');
    if (!reply && enhanced_code(addr.substr(0, space)))
        require(r == by_class(addr[0]), "an enhanced code in {rcpt_addr} misread", input);
}

}  // namespace

void check_recipients(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string_view fields[3] = {input, input, input};
    std::string_view rest = input;
    for (auto& field : fields) {
        const auto nul = rest.find('\0');
        field = rest.substr(0, nul);
        if (nul == std::string_view::npos) break;
        rest.remove_prefix(nul + 1);
    }
    check_canonical(fields[0]);
    check_patterns(fields[0], fields[2]);
    check_mta_rejection(fields[1], fields[2]);
}

}  // namespace smtpwall::fuzz
