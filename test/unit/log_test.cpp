// The one escaping of logged values (common/logfmt.hpp), used by the milter and the helper:
// whatever bytes a client sends, a log line has exactly the keys its writer gave it.
#include <boost/test/unit_test.hpp>

#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "common/logfmt.hpp"

using namespace smtpwall;

namespace {

// A strict logfmt reader: leading message words without '=', then `key=value` pairs
// separated by one space, each value bare (no space, quote, '=' or backslash) or quoted
// with only \" \\ \xNN escapes; anything else makes the line unreadable (nullopt).
// Returns the keys in order with their decoded values.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_logfmt(
    const std::string& line) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t i = 0;
    const auto n = line.size();
    bool in_pairs = false;
    while (i < n) {
        const auto word_end = line.find_first_of(" =\"", i);
        if (word_end == std::string::npos || line[word_end] == ' ') {  // a message word
            if (in_pairs || word_end == i) return std::nullopt;
            i = word_end == std::string::npos ? n : word_end + 1;
            if (word_end != std::string::npos && i == n) return std::nullopt;  // trailing space
            continue;
        }
        if (line[word_end] != '=' || word_end == i) return std::nullopt;
        in_pairs = true;
        std::string key = line.substr(i, word_end - i);
        for (char c : key)
            if (!((c >= 'a' && c <= 'z') || c == '_')) return std::nullopt;
        i = word_end + 1;
        std::string value;
        if (i < n && line[i] == '"') {
            ++i;
            for (;;) {
                if (i >= n) return std::nullopt;
                const auto c = static_cast<unsigned char>(line[i]);
                if (c == '"') {
                    ++i;
                    break;
                }
                if (c < 0x20 || c >= 0x7f || c == '=') return std::nullopt;
                if (c != '\\') {
                    value += static_cast<char>(c);
                    ++i;
                    continue;
                }
                if (i + 1 >= n) return std::nullopt;
                const char e = line[i + 1];
                if (e == '"' || e == '\\') {
                    value += e;
                    i += 2;
                } else if (e == 'x' && i + 3 < n && std::isxdigit(line[i + 2]) &&
                           std::isxdigit(line[i + 3])) {
                    value += static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16));
                    i += 4;
                } else {
                    return std::nullopt;
                }
            }
        } else {
            const auto end = line.find(' ', i);
            value = line.substr(i, end == std::string::npos ? std::string::npos : end - i);
            if (value.empty()) return std::nullopt;
            for (unsigned char c : value)
                if (c <= 0x20 || c >= 0x7f || c == '"' || c == '=' || c == '\\')
                    return std::nullopt;
            i += value.size();
        }
        pairs.emplace_back(std::move(key), std::move(value));
        if (i < n) {
            if (line[i] != ' ' || i + 1 == n) return std::nullopt;
            ++i;
        }
    }
    return pairs;
}

// The shape of the milter's session line, with one attacker-chosen value in the middle.
// Built as the milter builds its session line (append_kv), which must be the same
// line as the fields' kv() joined by spaces.
std::string session_line(std::string_view hostile) {
    std::string line = "session";
    append_kv(line, "client", "192.0.2.1");
    append_kv(line, "helo", hostile);
    append_kv(line, "verdict", "accept");
    BOOST_TEST(line == "session " + kv("client", "192.0.2.1") + " " + kv("helo", hostile) + " " +
                           kv("verdict", "accept"));
    std::string alone;
    append_kv(alone, "k", hostile);  // no space before the first field
    BOOST_TEST(alone == kv("k", hostile));
    return line;
}

void check_line_keeps_its_keys(const std::string& hostile) {
    BOOST_TEST_CONTEXT("value of " << hostile.size() << " bytes") {
        const auto line = session_line(hostile);
        const auto pairs = parse_logfmt(line);
        BOOST_REQUIRE(pairs.has_value());
        BOOST_REQUIRE(pairs->size() == 3u);
        BOOST_TEST((*pairs)[0].first == "client");
        BOOST_TEST((*pairs)[0].second == "192.0.2.1");
        BOOST_TEST((*pairs)[1].first == "helo");
        // The value comes back as sent, or as its first 256 bytes and "..." when cut.
        if (hostile.size() <= 256)
            BOOST_TEST((*pairs)[1].second == hostile);
        else
            BOOST_TEST((*pairs)[1].second == hostile.substr(0, 256) + "...");
        BOOST_TEST((*pairs)[2].first == "verdict");
        BOOST_TEST((*pairs)[2].second == "accept");

        // What a fail2ban-style regex sees: the real client, once.
        static const std::regex client_re("client=(\\S+)");
        std::vector<std::string> found;
        for (std::sregex_iterator it(line.begin(), line.end(), client_re), end; it != end; ++it)
            found.push_back((*it)[1]);
        BOOST_TEST(found.size() == 1u);
        if (!found.empty()) BOOST_TEST(found[0] == "192.0.2.1");
        BOOST_TEST(line.find('\n') == std::string::npos);
        BOOST_TEST(line.find("verdict=") == line.rfind("verdict="));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(log_values)

BOOST_AUTO_TEST_CASE(log_values_cannot_forge_lines) {
    BOOST_TEST(kv("helo", "mail.example.com") == "helo=mail.example.com");
    BOOST_TEST(kv("helo", "") == "helo=\"\"");
    BOOST_TEST(kv("helo", "a b") == "helo=\"a b\"");
    BOOST_TEST(kv("helo", "x\nsession client=1.2.3.4") ==
               "helo=\"x\\x0asession client\\x3d1.2.3.4\"");
    BOOST_TEST(kv("helo", "x client=198.51.100.7 verdict=reject") ==
               "helo=\"x client\\x3d198.51.100.7 verdict\\x3dreject\"");
    BOOST_TEST(kv("helo", "q\"uote\\") == "helo=\"q\\\"uote\\\\\"");
    BOOST_TEST(kv("helo", "a=b") == "helo=\"a\\x3db\"");
    BOOST_TEST(kv("helo", "\xff") == "helo=\"\\xff\"");
    BOOST_TEST(kv_value(std::string(1000, 'a')).size() < 300u);
}

// The helper logs request lines a peer sent with the same escaping.
BOOST_AUTO_TEST_CASE(peer_bytes_stay_on_one_line) {
    BOOST_TEST(kv("line", "1 PING") == "line=\"1 PING\"");
    BOOST_TEST(kv("line", "a\r\n\x1b\"\\\xff") == "line=\"a\\x0d\\x0a\\x1b\\\"\\\\\\xff\"");
    const auto cut = kv_value(std::string(1000, 'x'));
    BOOST_TEST(cut.ends_with("...\""));
    BOOST_TEST(cut.find('\n') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_byte_and_hostile_value_keeps_the_line_s_keys) {
    for (int b = 0; b < 256; ++b) {
        check_line_keeps_its_keys(std::string(1, static_cast<char>(b)));
        check_line_keeps_its_keys("x " + std::string(1, static_cast<char>(b)) + "client=1.2.3.4");
    }
    for (const std::string& v : std::vector<std::string>{
             "x client=198.51.100.7 verdict=reject", "client=198.51.100.7", "=", "==", "\"", "\\",
             "\\\"", "\"client=1.2.3.4\"", "a\" client=1.2.3.4 x=\"", "\\x3d", "a\\",
             "key=", " client=1.2.3.4", "\r\nsession client=1.2.3.4 verdict=reject",
             std::string(300, '='), std::string(255, 'a') + "=client=1.2.3.4",
             std::string(1000, '"'), std::string(5000, 'x'), std::string("a\0b", 3)})
        check_line_keeps_its_keys(v);
    // Random bytes, weighted towards the characters that matter.
    std::mt19937 rng(15);
    const std::string special = "=\"\\ \t\n\r\x1b\x7f\x80\xff client";
    for (int round = 0; round < 2000; ++round) {
        std::string v(rng() % 300, '\0');
        for (auto& c : v)
            c = rng() % 2 ? special[rng() % special.size()] : static_cast<char>(rng() % 256);
        check_line_keeps_its_keys(v);
    }
}

BOOST_AUTO_TEST_SUITE_END()
