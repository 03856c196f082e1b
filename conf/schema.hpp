// Each setting declared once. A Schema lists every key of one configuration file:
// where it lives, what its value looks like (type and bounds), one line of doc,
// whether a reload may change it, and how to read, show, compare and copy it. The
// defaults are the initial values of the config struct. Parsing, validation, the
// reload diff, `--check-config` and the documentation test all come from the schema,
// so a new setting is one struct member and one schema line (plus its prose in the
// example file and the man page, which a unit test holds to the schema).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/embedded_v4.hpp"
#include "common/enum_names.hpp"
#include "common/net.hpp"
#include "conf/config_reader.hpp"

namespace smtpwall::conf {

template <class Config>
struct Setting {
    std::string table;  // "dns"; "" at the top level
    std::string key;    // "timeout"
    std::string type;
    std::string doc;
    Reload reload = Reload::restart;
    bool required = false;
    bool table_valued = false;
    std::function<void(TableReader&, Config&)> read;  // validates and stores
    std::function<std::string(const Config&)> show;   // the value as TOML
    std::function<bool(const Config&, const Config&)> same;
    std::function<void(Config&, const Config&)> take;  // copies this setting over
    std::vector<SettingInfo> members;                  // of an array of tables ([[zone]])

    std::string name() const { return table.empty() ? key : table + "." + key; }
};

// A rule over several settings, checked once all are read; a complaint is reported
// at the key `at` ("escalation.max_ban_duration"), or, when the file left that one at
// its default, at the first of `also` the file did set: the operator still gets the
// line that made the rule fail.
template <class Config>
struct Check {
    std::string at;
    std::function<std::optional<std::string>(const Config&)> problem;
    std::vector<std::string> also = {};
};

template <class Config>
class Schema {
  public:
    Schema(std::vector<Setting<Config>> settings, std::vector<Check<Config>> checks)
        : settings_(std::move(settings)), checks_(std::move(checks)) {}

    // Reads one file's tables into a default Config, and notes in its `source` and
    // `where` the file and the line of each key. Unknown keys, wrong types, values
    // out of bounds and failed checks throw ConfigError "file:line: key: message".
    Config read(const toml::table& root, const std::string& file) const {
        Config config;
        Locations found;
        TableReader top(root, file, "");
        read_into(top, "", config, found);
        std::vector<std::string> tables;
        for (const auto& s : settings_)
            if (!s.table.empty() &&
                std::find(tables.begin(), tables.end(), s.table) == tables.end())
                tables.push_back(s.table);
        for (const auto& name : tables)
            if (auto t = top.table(name)) {
                read_into(*t, name, config, found);
                t->reject_unknown_keys();
            }
        top.reject_unknown_keys();
        for (const auto& check : checks_)
            if (auto problem = check.problem(config)) {
                std::string where = location_of(found, check.at, file);
                for (const auto& key : check.also)
                    if (where == file) where = location_of(found, key, file);
                throw ConfigError(fmt::format("{}: {}: {}", where, check.at, *problem));
            }
        config.source = file;
        config.where = std::move(found);
        return config;
    }

    // Reads the members of one table (an element of an array of tables).
    Config read_table(TableReader& table) const {
        Config config;
        Locations found;
        read_into(table, "", config, found);
        table.reject_unknown_keys();
        for (const auto& check : checks_)
            if (auto problem = check.problem(config)) table.fail(check.at, *problem);
        return config;
    }

    // The settings whose values differ and that only a restart can change.
    std::vector<std::string> restart_only_changes(const Config& running, const Config& file) const {
        std::vector<std::string> out;
        for (const auto& s : settings_)
            if (s.reload == Reload::restart && !s.same(running, file)) out.push_back(s.name());
        return out;
    }

    // What a reload puts in force: the running config with every live setting taken
    // from the file.
    Config reloaded(const Config& running, const Config& file) const {
        Config out = running;
        for (const auto& s : settings_)
            if (s.reload == Reload::live) s.take(out, file);
        return out;
    }

    std::vector<SettingInfo> describe() const {
        const Config defaults{};
        std::vector<SettingInfo> out;
        for (const auto& s : settings_) {
            out.push_back(info(s, defaults, ""));
            for (auto member : s.members) {
                member.name = s.name() + "." + member.name;
                out.push_back(std::move(member));
            }
        }
        return out;
    }

    static SettingInfo info(const Setting<Config>& s, const Config& defaults,
                            const std::string& prefix) {
        return {prefix + s.name(),
                s.type,
                s.doc,
                s.reload,
                s.required,
                s.table_valued,
                s.required ? std::string() : s.show(defaults)};
    }

  private:
    void read_into(TableReader& t, std::string_view table, Config& config, Locations& found) const {
        for (const auto& s : settings_) {
            if (s.table != table) continue;
            if (s.required && !t.has(s.key)) t.fail(s.key, "is required");
            s.read(t, config);
            if (t.has(s.key)) found.emplace(s.name(), t.where(s.key));
        }
    }

    std::vector<Setting<Config>> settings_;
    std::vector<Check<Config>> checks_;
};

// ---- value kinds: how one type of value is read from TOML and shown as TOML ----

std::string toml_string(std::string_view text);
std::string toml_strings(const std::vector<std::string>& list);
std::string toml_duration(std::chrono::seconds d);
std::string toml_duration(std::chrono::milliseconds d);

// A complaint about one value, or nothing.
using Validator = std::function<std::optional<std::string>(const std::string&)>;

struct Text {
    explicit Text(Validator validator = {}) : check(std::move(validator)) {}
    Validator check;
    std::string type = "string";
    std::string read(TableReader& t, std::string_view key, const std::string& fallback) const {
        auto value = t.string(key, fallback);
        if (check && t.has(key))
            if (auto problem = check(value)) t.fail(key, *problem);
        return value;
    }
    std::string show(const std::string& v) const { return toml_string(v); }
};

// A list of strings; each element is checked and blamed at its own line.
struct Texts {
    explicit Texts(Validator validator = {}) : check(std::move(validator)) {}
    Validator check;
    std::string type = "array of strings";
    std::vector<std::string> read(TableReader& t, std::string_view key,
                                  const std::vector<std::string>& fallback) const {
        if (!t.has(key)) return fallback;
        std::vector<std::string> out;
        for (auto& item : t.located_strings(key, {})) {
            if (check)
                if (auto problem = check(item.value))
                    throw ConfigError(fmt::format("{}: {}: \"{}\": {}", item.where, t.name_of(key),
                                                  item.value, *problem));
            out.push_back(std::move(item.value));
        }
        return out;
    }
    std::string show(const std::vector<std::string>& v) const { return toml_strings(v); }
};

struct Integer {
    Integer(std::int64_t low, std::int64_t high)
        : min(low), max(high), type(fmt::format("integer {}..{}", low, high)) {}
    std::int64_t min, max;
    std::string type;
    template <class T>
    T read(TableReader& t, std::string_view key, T fallback) const {
        return static_cast<T>(t.integer(key, static_cast<std::int64_t>(fallback), min, max));
    }
    template <class T>
    std::string show(T v) const {
        return std::to_string(v);
    }
};

struct Integers {
    Integers(std::int64_t low, std::int64_t high)
        : min(low), max(high), type(fmt::format("array of integers {}..{}", low, high)) {}
    std::int64_t min, max;
    std::string type;
    template <class T>
    std::vector<T> read(TableReader& t, std::string_view key,
                        const std::vector<T>& fallback) const {
        std::vector<std::int64_t> wide(fallback.begin(), fallback.end());
        std::vector<T> out;
        for (auto v : t.integers(key, wide, min, max)) out.push_back(static_cast<T>(v));
        return out;
    }
    template <class T>
    std::string show(const std::vector<T>& v) const {
        return fmt::format("[{}]", fmt::join(v, ", "));
    }
};

struct Real {
    Real(double low, double high)
        : min(low), max(high), type(fmt::format("number {}..{}", low, high)) {}
    double min, max;
    std::string type;
    double read(TableReader& t, std::string_view key, double fallback) const {
        return t.real(key, fallback, min, max);
    }
    std::string show(double v) const {
        return v == static_cast<double>(static_cast<std::int64_t>(v)) ? fmt::format("{:.1f}", v)
                                                                      : fmt::format("{}", v);
    }
};

struct Flag {
    std::string type = "true or false";
    bool read(TableReader& t, std::string_view key, bool fallback) const {
        return t.boolean(key, fallback);
    }
    std::string show(bool v) const { return v ? "true" : "false"; }
};

struct Duration {
    explicit Duration(std::chrono::seconds low = std::chrono::seconds(0),
                      std::chrono::seconds high = std::chrono::seconds::max())
        : min(low), max(high) {}
    std::chrono::seconds min, max;
    std::string type = "duration";
    std::chrono::seconds read(TableReader& t, std::string_view key,
                              std::chrono::seconds fallback) const {
        const auto d = t.duration(key, fallback);
        if (d < min) t.fail(key, fmt::format("must be at least {}", toml_duration(min)));
        if (d > max) t.fail(key, fmt::format("must be at most {}", toml_duration(max)));
        return d;
    }
    std::string show(std::chrono::seconds d) const { return toml_string(toml_duration(d)); }
};

struct DurationMs {
    explicit DurationMs(std::chrono::milliseconds low) : min(low) {}
    std::chrono::milliseconds min;
    std::string type = "duration (ms allowed)";
    std::chrono::milliseconds read(TableReader& t, std::string_view key,
                                   std::chrono::milliseconds fallback) const {
        const auto d = t.duration_ms(key, fallback);
        if (d < min) t.fail(key, fmt::format("must be at least {}", toml_duration(min)));
        return d;
    }
    std::string show(std::chrono::milliseconds d) const { return toml_string(toml_duration(d)); }
};

struct Networks {
    std::string type = "array of networks";
    CidrList read(TableReader& t, std::string_view key, const CidrList& fallback) const {
        return t.has(key) ? t.networks(key) : fallback;
    }
    std::string show(const CidrList& nets) const {
        std::vector<std::string> texts;
        for (const auto& n : nets.entries()) texts.push_back(n.to_string());
        return toml_strings(texts);
    }
};

// NAT64 prefixes of RFC 6052 lengths (/32 /40 /48 /56 /64 /96).
struct Nat64Prefixes {
    std::string type = "array of IPv6 prefixes /32, /40, /48, /56, /64 or /96";
    std::vector<Cidr> read(TableReader& t, std::string_view key,
                           const std::vector<Cidr>& fallback) const {
        if (!t.has(key)) return fallback;
        const Texts texts([](const std::string& text) -> std::optional<std::string> {
            const auto net = Cidr::parse(text);
            if (net && valid_nat64_prefix(*net)) return std::nullopt;
            return "is not a NAT64 prefix (RFC 6052: /32, /40, /48, /56, /64 or /96, bits 64..71 "
                   "zero)";
        });
        const auto nets = texts.read(t, key, {});
        std::vector<Cidr> out;
        for (const auto& text : nets) out.push_back(*Cidr::parse(text));
        return out;
    }
    std::string show(const std::vector<Cidr>& v) const {
        std::vector<std::string> texts;
        for (const auto& n : v) texts.push_back(n.to_string());
        return toml_strings(texts);
    }
};

// One of a fixed set of words, stored as a value of T.
template <class T, std::size_t N>
struct Choice {
    explicit Choice(EnumNames<T, N> words) : names(words) {
        std::vector<std::string_view> list;
        for (const auto& [v, n] : names) list.push_back(n);
        type = fmt::format("one of {}", fmt::join(list, ", "));
    }
    EnumNames<T, N> names;
    std::string type;
    T read(TableReader& t, std::string_view key, T fallback) const {
        const auto word = t.string(key, std::string(name_of(names, fallback)));
        const auto value = value_of(names, word);
        if (!value) {
            std::vector<std::string_view> words;
            for (const auto& [v, n] : names) words.push_back(n);
            t.fail(key, fmt::format("\"{}\" is not one of: {}", word, fmt::join(words, ", ")));
        }
        return *value;
    }
    std::string show(T v) const { return toml_string(name_of(names, v)); }
};

// Builds a Setting from a field accessor, `[](auto& c) -> auto& { return c.dns.timeout; }`,
// and a kind.
template <class Config, class Get, class Kind>
Setting<Config> setting(std::string table, std::string key, Get get, Kind kind, Reload reload,
                        std::string doc) {
    Setting<Config> s;
    s.table = std::move(table);
    s.key = std::move(key);
    s.type = kind.type;
    s.doc = std::move(doc);
    s.reload = reload;
    s.read = [get, kind, key = s.key](TableReader& t, Config& c) {
        auto& field = get(c);
        field = kind.read(t, key, field);
    };
    s.show = [get, kind](const Config& c) { return kind.show(get(c)); };
    s.same = [get](const Config& a, const Config& b) { return get(a) == get(b); };
    s.take = [get](Config& to, const Config& from) { get(to) = get(from); };
    return s;
}

}  // namespace smtpwall::conf
