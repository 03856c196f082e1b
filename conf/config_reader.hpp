// Strict reading of TOML tables: every key must be known, every value must have
// the expected type and range, and every complaint names file:line. Operators
// edit these files by hand; a typo must stop the program, never be ignored.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"

namespace smtpwall::conf {

// Where each key was found ("dns.timeout" -> "smtpwall.conf:12"), for checks that
// come after parsing and still owe the operator a file:line.
using Locations = std::map<std::string, std::string, std::less<>>;

// Where `key` was set, or just the file when it was not.
std::string location_of(const Locations& where, std::string_view key, const std::string& file);

enum class Reload { live, restart };

// What the documentation test and `--list-settings` see of a setting.
struct SettingInfo {
    std::string name;  // "dns.timeout", "zone.tag"
    std::string type;
    std::string doc;
    Reload reload = Reload::restart;
    bool required = false;      // no default: the file must give it
    bool table_valued = false;  // the value is a table of free keys ([scoring.weights])
    std::string default_value;  // as TOML, e.g. "\"1500ms\""; empty when required
};

// One line per setting: name, default, "live" or "restart", type, doc.
std::string render_settings(const std::vector<SettingInfo>& settings);

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// "90s", "15m", "1h", "7d", "2w"; a bare number is seconds.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);
// The same, plus "250ms".
std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text);

// Parses a whole file (or text, for tests); syntax errors become ConfigError.
toml::table parse_toml_file(const std::string& path);
toml::table parse_toml_text(std::string_view text, const std::string& name);

class TableReader {
  public:
    TableReader(const toml::table& table, std::string file, std::string section);

    // Each getter records the key as known. Missing optional keys keep `fallback`.
    std::string string(std::string_view key, std::string fallback);
    std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                         std::int64_t max);
    std::vector<std::int64_t> integers(std::string_view key, std::vector<std::int64_t> fallback,
                                       std::int64_t min, std::int64_t max);
    bool boolean(std::string_view key, bool fallback);
    double real(std::string_view key, double fallback, double min, double max);
    // Strings with the "file:line" of each element, for checks done by the caller.
    struct Located {
        std::string value;
        std::string where;
    };
    std::vector<Located> located_strings(std::string_view key, std::vector<std::string> fallback);
    std::chrono::seconds duration(std::string_view key, std::chrono::seconds fallback);
    std::chrono::milliseconds duration_ms(std::string_view key, std::chrono::milliseconds fallback);
    // An array of tables ([[key]] in TOML), each to be read strictly.
    std::vector<TableReader> tables(std::string_view key);
    std::vector<std::string> strings(std::string_view key, std::vector<std::string> fallback);
    CidrList networks(std::string_view key);
    std::optional<TableReader> table(std::string_view key);
    bool has(std::string_view key) const { return table_.contains(key); }
    // Every key the table holds, in file order (for tables of free keys).
    std::vector<std::string> keys() const;
    // "section.key", as complaints name it.
    std::string name_of(std::string_view key) const;

    // Throws for the first key nobody asked for.
    void reject_unknown_keys() const;

    [[noreturn]] void fail(std::string_view key, const std::string& message) const;
    std::string where(std::string_view key) const;

  private:
    const toml::node* lookup(std::string_view key);

    const toml::table& table_;
    std::string file_;
    std::string section_;
    std::set<std::string, std::less<>> known_;
};

}  // namespace smtpwall::conf
