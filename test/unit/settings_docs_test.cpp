// The schemas are the one declaration of every setting; the example files and the
// man pages are prose around them. This holds the prose to the schemas: every key is
// in both, no file names a key the schema lacks, and every default a file shows is
// the schema's default (the example files show defaults uncommented and examples
// commented out; the man pages show defaults).
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "conf/helper_config.hpp"
#include "conf/milter_config.hpp"
#include "conf/shared_relay_domains.hpp"

using namespace smtpwall;
using namespace smtpwall::conf;

namespace {

struct Mention {
    std::string name;                  // "dns.timeout"
    std::optional<std::string> value;  // what the file shows after '=', if anything
    bool is_default = false;           // the file presents the value as the default
    int line = 0;
};

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// A TOML value without a trailing comment, and without spaces outside quotes.
std::string normalized(const std::string& value) {
    std::string out;
    bool quoted = false;
    for (char c : value) {
        if (c == '"') quoted = !quoted;
        if (!quoted && c == '#') break;
        if (!quoted && (c == ' ' || c == '\t')) continue;
        out += c;
    }
    return out;
}

// Settings a file names with a table header: "[scoring.weights]", "[[zone]]".
struct Tables {
    std::set<std::string> headed;  // the header itself mentions the setting
    std::set<std::string> free;    // and the keys below it are not settings (tag weights)
};

Tables tables_of(const std::vector<SettingInfo>& settings) {
    Tables out;
    for (const auto& s : settings) {
        if (s.table_valued) out.free.insert(s.name);
        if (s.table_valued || s.type.starts_with("array of tables")) out.headed.insert(s.name);
    }
    return out;
}

// Keys of an example TOML file, active ("key = value") or commented out ("# key = value").
std::vector<Mention> example_mentions(const std::string& path, const Tables& tables) {
    static const std::regex header(R"(^\[\[?\s*([a-z0-9_.]+)\s*\]\]?\s*$)");
    static const std::regex key(R"(^([a-z][a-z0-9_]*)\s*=\s*(.*)$)");
    std::vector<Mention> out;
    std::string section;
    int n = 0;
    for (const auto& raw : lines_of(path)) {
        ++n;
        std::string line = trim(raw);
        const bool commented = line.starts_with("#");
        if (commented) line = trim(line.substr(std::min(line.find_first_not_of('#'), line.size())));
        std::smatch m;
        if (std::regex_match(line, m, header)) {
            section = m[1];
            if (tables.headed.contains(section)) out.push_back({section, std::nullopt, false, n});
            continue;
        }
        if (tables.free.contains(section) || !std::regex_match(line, m, key)) continue;
        const std::string name = section.empty() ? m[1].str() : section + "." + m[1].str();
        out.push_back({name, normalized(m[2]), !commented, n});
    }
    return out;
}

std::string unroff(std::string s) {
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"\\(dq", "\""}, {"\\-", "-"}, {"\\fB", ""}, {"\\fR", ""}, {"\\fI", ""}}) {
        for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at))
            s.replace(at, from.size(), to);
    }
    return s;
}

// Keys of a man page: ".SH [section]" (or "[[section]]"), then ".B key = default" or
// ".B key" right after ".TP"/".TQ".
std::vector<Mention> man_mentions(const std::string& path, const Tables& tables) {
    static const std::regex header(R"(^\.SH \[\[?([a-z0-9_.]+)\]\]?$)");
    static const std::regex key(R"(^\.B ([a-z][a-z0-9_]*)(?: = (.*))?$)");
    std::vector<Mention> out;
    std::optional<std::string> section;
    bool after_tag = false;
    int n = 0;
    for (const auto& raw : lines_of(path)) {
        ++n;
        const std::string line = unroff(raw);
        std::smatch m;
        if (line.starts_with(".SH")) {
            section.reset();
            if (std::regex_match(line, m, header)) {
                section = m[1];
                if (tables.headed.contains(*section))
                    out.push_back({*section, std::nullopt, false, n});
            }
            after_tag = false;
            continue;
        }
        const bool tag_line = after_tag;
        after_tag = line == ".TP" || line == ".TQ";
        if (!section || tables.free.contains(*section) || !tag_line ||
            !std::regex_match(line, m, key))
            continue;
        const std::string name = section->empty() ? m[1].str() : *section + "." + m[1].str();
        std::optional<std::string> value;
        if (m[2].matched) value = normalized(m[2]);
        out.push_back({name, value, value.has_value(), n});
    }
    return out;
}

// What is wrong with a file's mentions of the settings, one line each.
std::vector<std::string> problems(const std::string& path, const std::vector<Mention>& mentions,
                                  const std::vector<SettingInfo>& settings) {
    std::map<std::string, const SettingInfo*> by_name;
    for (const auto& s : settings) by_name[s.name] = &s;
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& m : mentions) {
        const std::string where = path + ":" + std::to_string(m.line) + ": ";
        const auto it = by_name.find(m.name);
        if (it == by_name.end()) {
            out.push_back(where + "names \"" + m.name + "\", which the schema lacks");
            continue;
        }
        seen.insert(m.name);
        const SettingInfo& s = *it->second;
        if (s.required && m.is_default && m.value)
            out.push_back(where + m.name + " is required and has no default");
        else if (!s.required && m.is_default && m.value && *m.value != normalized(s.default_value))
            out.push_back(where + m.name + " shows " + *m.value + ", the default is " +
                          s.default_value);
    }
    for (const auto& s : settings)
        if (!seen.contains(s.name)) out.push_back(path + ": does not mention " + s.name);
    return out;
}

void check_file(const std::string& path, const std::vector<Mention>& mentions,
                const std::vector<SettingInfo>& settings) {
    for (const auto& p : problems(path, mentions, settings)) BOOST_ERROR(p);
}

bool has_problem(const std::vector<std::string>& list, const std::string& text) {
    for (const auto& p : list)
        if (p.find(text) != std::string::npos) return true;
    return false;
}

const std::string kSource = SMTPWALL_SOURCE_DIR;

void check_docs(const std::vector<SettingInfo>& settings, const std::string& example,
                const std::string& man) {
    const auto tables = tables_of(settings);
    check_file(kSource + example, example_mentions(kSource + example, tables), settings);
    check_file(kSource + man, man_mentions(kSource + man, tables), settings);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(settings_docs)

BOOST_AUTO_TEST_CASE(smtpwall_conf_and_its_man_page_follow_the_schema) {
    check_docs(milter_settings(), "/conf/smtpwall.conf", "/packaging/man/smtpwall.conf.5");
}

BOOST_AUTO_TEST_CASE(helper_conf_and_its_man_page_follow_the_schema) {
    check_docs(helper_settings(), "/conf/helper.conf", "/packaging/man/smtpwall-helper.conf.5");
}

// The man page lists the shipped shared-relay domains, each as ".B domain", and no others.
BOOST_AUTO_TEST_CASE(the_man_page_lists_the_shipped_relay_domains) {
    std::ifstream in(kSource + "/packaging/man/smtpwall.conf.5");
    BOOST_TEST_REQUIRE(in.good());
    std::string line;
    bool in_list = false;
    std::set<std::string> listed;
    while (std::getline(in, line)) {
        if (line.starts_with(".SH")) in_list = false;
        if (line.starts_with("The shipped provider domains")) in_list = true;
        if (in_list && line.starts_with(".B ")) listed.insert(line.substr(3));
    }
    std::set<std::string> shipped;
    for (const auto& d : shipped_relay_domains()) shipped.emplace(d.domain);
    BOOST_TEST(listed == shipped, boost::test_tools::per_element());
}

// The check itself can fail: a key added to the schema but not to the files, a file
// naming a key the schema lacks, and a default that differs are all found.
BOOST_AUTO_TEST_CASE(the_check_sees_missing_unknown_and_wrong) {
    auto settings = milter_settings();
    const auto tables = tables_of(settings);
    const auto example = kSource + "/conf/smtpwall.conf";
    auto mentions = example_mentions(example, tables);
    BOOST_TEST(problems(example, mentions, settings).empty());
    settings.push_back({"dns.invented_key", "integer", "", Reload::live, false, false, "1"});
    BOOST_TEST(
        has_problem(problems(example, mentions, settings), "does not mention dns.invented_key"));
    settings.pop_back();
    mentions.push_back({"dns.stray_key", std::string("1"), true, 0});
    BOOST_TEST(has_problem(problems(example, mentions, settings), "names \"dns.stray_key\""));
    mentions.pop_back();
    mentions.push_back({"dns.attempts", std::string("7"), true, 0});
    BOOST_TEST(has_problem(problems(example, mentions, settings), "dns.attempts shows 7"));
}

BOOST_AUTO_TEST_SUITE_END()
