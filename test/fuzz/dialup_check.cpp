// The dialup property (see dialup_check.hpp): the input decoder and the invariants, the
// name rules computed from the text, the variants compared signal by signal.
#include "test/fuzz/dialup_check.hpp"

#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/log.hpp"
#include "common/net.hpp"
#include "common/pattern.hpp"
#include "common/text.hpp"
#include "dnsbl/dialup.hpp"
#include "test/fuzz/check_failure.hpp"
#include "test/fuzz/check_text.hpp"

namespace smtpwall::fuzz {

namespace {

using dns::DialupDetector;
using dns::DialupVerdict;

struct Case {
    IpAddress client;
    std::string_view name;
};

void require(bool ok, std::string_view what, const Case& c, std::string_view detail = {}) {
    if (!ok)
        check_failed("dialup", what, "client=" + c.client.to_string() + " name=" + kv_value(c.name),
                     detail);
}

const DialupDetector& plain() {
    static const DialupDetector detector;
    return detector;
}

// A typical operator pattern, one that backtracks badly (PCRE2's match limit turns it
// into a "pattern-error" signal) and one with a word boundary.
const DialupDetector& with_patterns() {
    static const DialupDetector detector([] {
        std::vector<Pattern> out;
        for (const char* p : {R"(^(?:[a-z]+-)?\d+(?:-\d+){3}$)", "(a|aa)+$", R"(\bcust\d+)"})
            out.push_back(std::get<Pattern>(Pattern::compile(p)));
        return out;
    }());
    return detector;
}

bool same(const DialupVerdict& a, const DialupVerdict& b) {
    return a.dynamic == b.dynamic && a.generic == b.generic && a.score == b.score &&
           a.signals == b.signals;
}

// What dialup.hpp calls a name that can be a DNS host name.
bool host_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253) return false;
    for (const auto label : split(name, '.')) {
        if (label.empty() || label.size() > 63) return false;
        for (char c : label)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                return false;
    }
    return true;
}

void check_verdict(const DialupVerdict& v, const Case& c) {
    require(v.dynamic == (v.score >= DialupDetector::kThreshold), "dynamic disagrees with score", c,
            v.summary());
    require(!(v.dynamic && v.generic), "a generic name is dynamic", c, v.summary());
    int sum = 0, address = 0, exemptions = 0;
    std::string summary;
    for (std::size_t i = 0; i < v.signals.size(); ++i) {
        const auto& s = v.signals[i];
        sum += s.weight;
        if (s.rule.starts_with("ip-in-name:")) ++address;
        if (s.weight < 0) ++exemptions;
        for (std::size_t j = 0; j < i; ++j)
            require(v.signals[j].rule != s.rule, "a rule appears twice", c, s.rule);
        if (i > 0) summary += ',';
        summary += s.rule;
        if (s.weight > 0) summary += "(+" + std::to_string(s.weight) + ")";
        if (s.weight < 0) summary += "(" + std::to_string(s.weight) + ")";
    }
    require(sum == v.score, "the signals do not add up to the score", c, v.summary());
    require(address <= 1, "more than one address signal", c, v.summary());
    require(exemptions <= 1, "more than one exemption counts", c, v.summary());
    require(v.summary() == summary, "summary() is not the signals", c, v.summary());
}

void check(const Case& c) {
    const DialupVerdict v = plain().classify(c.client, c.name);
    check_verdict(v, c);
    require(same(plain().classify(c.client, c.name), v), "not deterministic", c);

    if (!host_name(c.name)) {
        require(v.signals == std::vector<dns::DialupSignal>{{"invalid-name", 0}} && v.score == 0 &&
                    !v.generic,
                "an impossible name is not just invalid-name", c, v.summary());
        return;
    }
    for (const auto& s : v.signals)
        require(s.rule != "invalid-name", "a host name judged invalid", c, v.summary());

    for (const bool upper : {false, true})
        require(same(plain().classify(c.client, with_case(c.name, upper)), v),
                "letter case changes the verdict", c, v.summary());
    if (c.name.back() != '.')
        require(same(plain().classify(c.client, std::string(c.name) + "."), v),
                "a trailing dot changes the verdict", c, v.summary());
    if (c.client.family == Family::v4) {
        IpAddress mapped;
        mapped.family = Family::v6;
        mapped.bytes[10] = mapped.bytes[11] = 0xff;
        std::memcpy(mapped.bytes.data() + 12, c.client.bytes.data(), 4);
        require(same(plain().classify(mapped, c.name), v),
                "an IPv4-mapped client is judged differently", c, v.summary());
    }

    const DialupVerdict p = with_patterns().classify(c.client, c.name);
    check_verdict(p, c);
    require(p.signals.size() >= v.signals.size() &&
                std::equal(v.signals.begin(), v.signals.end(), p.signals.begin()),
            "patterns change the built-in signals", c, p.summary());
    bool matched = false;
    for (std::size_t i = v.signals.size(); i < p.signals.size(); ++i) {
        const auto& s = p.signals[i];
        require(s.rule.starts_with("pattern:") || s.rule.starts_with("pattern-error:"),
                "patterns add a signal that is not theirs", c, s.rule);
        if (s.weight != 0) {
            require(!matched && s.weight == 200 && s.rule.starts_with("pattern:"),
                    "a pattern match does not weigh +200 once", c, p.summary());
            matched = true;
        }
    }
    require(p.score == v.score + (matched ? 200 : 0), "patterns change the score otherwise", c,
            p.summary());
}

}  // namespace

void check_dialup(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return;
    Case c;
    const bool v6 = (data[0] & 1) != 0;
    const std::size_t width = v6 ? 16 : 4;
    if (size < 1 + width) return;
    c.client.family = v6 ? Family::v6 : Family::v4;
    std::memcpy(c.client.bytes.data(), data + 1, width);
    c.name = std::string_view(reinterpret_cast<const char*>(data + 1 + width), size - 1 - width);
    check(c);
}

}  // namespace smtpwall::fuzz
