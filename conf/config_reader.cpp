// TableReader: strict typed reads of one TOML table, every complaint with file:line.
#include "conf/config_reader.hpp"

#include <fmt/format.h>

#include <charconv>

namespace smtpwall::conf {

namespace {

std::string location(const std::string& file, const toml::source_region& src) {
    if (src.begin.line == 0) return file;
    return fmt::format("{}:{}", file, src.begin.line);
}

}  // namespace

std::string location_of(const Locations& where, std::string_view key, const std::string& file) {
    const auto it = where.find(key);
    return it == where.end() ? file : it->second;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || value < 0) return std::nullopt;
    const std::string_view unit(end, text.data() + text.size() - end);
    std::int64_t scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1;
    } else if (unit == "m") {
        scale = 60;
    } else if (unit == "h") {
        scale = 3600;
    } else if (unit == "d") {
        scale = 86400;
    } else if (unit == "w") {
        scale = 7 * 86400;
    } else {
        return std::nullopt;
    }
    constexpr std::int64_t kTenYears = 10LL * 366 * 86400;
    if (value > kTenYears / scale) return std::nullopt;
    return std::chrono::seconds(value * scale);
}

std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text) {
    if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
        std::int64_t value = 0;
        const auto digits = text.substr(0, text.size() - 2);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (ec != std::errc{} || end != digits.data() + digits.size() || value < 0 ||
            value > 86'400'000)
            return std::nullopt;
        return std::chrono::milliseconds(value);
    }
    const auto seconds = parse_duration(text);
    if (!seconds) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::milliseconds>(*seconds);
}

toml::table parse_toml_file(const std::string& path) {
    try {
        return toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        const auto& src = e.source();
        if (src.begin.line == 0) throw ConfigError(fmt::format("{}: {}", path, e.description()));
        throw ConfigError(fmt::format("{}:{}: {}", path, src.begin.line, e.description()));
    }
}

toml::table parse_toml_text(std::string_view text, const std::string& name) {
    try {
        return toml::parse(text, name);
    } catch (const toml::parse_error& e) {
        throw ConfigError(fmt::format("{}:{}: {}", name, e.source().begin.line, e.description()));
    }
}

TableReader::TableReader(const toml::table& table, std::string file, std::string section)
    : table_(table), file_(std::move(file)), section_(std::move(section)) {}

std::string TableReader::where(std::string_view key) const {
    if (const auto* node = table_.get(key)) return location(file_, node->source());
    return location(file_, table_.source());
}

std::string TableReader::name_of(std::string_view key) const {
    return section_.empty() ? std::string(key) : section_ + "." + std::string(key);
}

std::vector<std::string> TableReader::keys() const {
    std::vector<std::string> out;
    for (const auto& [key, node] : table_) out.emplace_back(key.str());
    return out;
}

void TableReader::fail(std::string_view key, const std::string& message) const {
    throw ConfigError(fmt::format("{}: {}: {}", where(key), name_of(key), message));
}

const toml::node* TableReader::lookup(std::string_view key) {
    known_.emplace(key);
    return table_.get(key);
}

std::string TableReader::string(std::string_view key, std::string fallback) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    const auto* s = node->as_string();
    if (s == nullptr) fail(key, "expected a string");
    return s->get();
}

std::int64_t TableReader::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                  std::int64_t max) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    const auto* i = node->as_integer();
    if (i == nullptr) fail(key, "expected an integer");
    if (i->get() < min || i->get() > max)
        fail(key, fmt::format("{} is out of range [{}, {}]", i->get(), min, max));
    return i->get();
}

std::vector<std::int64_t> TableReader::integers(std::string_view key,
                                                std::vector<std::int64_t> fallback,
                                                std::int64_t min, std::int64_t max) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    const auto* arr = node->as_array();
    if (arr == nullptr) fail(key, "expected an array of integers");
    std::vector<std::int64_t> out;
    for (const auto& item : *arr) {
        const auto* i = item.as_integer();
        if (i == nullptr || i->get() < min || i->get() > max)
            throw ConfigError(fmt::format("{}: {}: expected integers in [{}, {}]",
                                          location(file_, item.source()), key, min, max));
        out.push_back(i->get());
    }
    return out;
}

bool TableReader::boolean(std::string_view key, bool fallback) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    const auto* b = node->as_boolean();
    if (b == nullptr) fail(key, "expected true or false");
    return b->get();
}

double TableReader::real(std::string_view key, double fallback, double min, double max) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    double value = 0;
    if (const auto* f = node->as_floating_point()) {
        value = f->get();
    } else if (const auto* i = node->as_integer()) {
        value = static_cast<double>(i->get());
    } else {
        fail(key, "expected a number");
    }
    if (!(value >= min && value <= max))
        fail(key, fmt::format("{} is out of range [{}, {}]", value, min, max));
    return value;
}

std::vector<TableReader::Located> TableReader::located_strings(std::string_view key,
                                                               std::vector<std::string> fallback) {
    const auto* node = lookup(key);
    std::vector<Located> out;
    if (node == nullptr) {
        for (auto& v : fallback) out.push_back({std::move(v), file_});
        return out;
    }
    const auto* arr = node->as_array();
    if (arr == nullptr) fail(key, "expected an array of strings");
    for (const auto& item : *arr) {
        const auto* s = item.as_string();
        if (s == nullptr)
            throw ConfigError(fmt::format("{}: {}: expected an array of strings",
                                          location(file_, item.source()), key));
        out.push_back({s->get(), location(file_, item.source())});
    }
    return out;
}

std::chrono::seconds TableReader::duration(std::string_view key, std::chrono::seconds fallback) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    if (const auto* i = node->as_integer()) {
        if (i->get() < 0) fail(key, "a duration cannot be negative");
        return std::chrono::seconds(i->get());
    }
    const auto* s = node->as_string();
    if (s == nullptr) fail(key, R"(expected a duration such as "90s", "15m", "1h" or "7d")");
    const auto d = parse_duration(s->get());
    if (!d)
        fail(key,
             fmt::format(R"("{}" is not a duration such as "90s", "15m", "1h" or "7d")", s->get()));
    return *d;
}

std::chrono::milliseconds TableReader::duration_ms(std::string_view key,
                                                   std::chrono::milliseconds fallback) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    const auto* s = node->as_string();
    if (s == nullptr) fail(key, R"(expected a duration such as "500ms" or "2s")");
    const auto d = parse_duration_ms(s->get());
    if (!d) fail(key, fmt::format(R"("{}" is not a duration such as "500ms" or "2s")", s->get()));
    return *d;
}

std::vector<TableReader> TableReader::tables(std::string_view key) {
    const auto* node = lookup(key);
    std::vector<TableReader> out;
    if (node == nullptr) return out;
    const auto* arr = node->as_array();
    if (arr == nullptr || !arr->is_array_of_tables())
        fail(key, fmt::format("expected [[{}]] tables", key));
    for (const auto& item : *arr) out.emplace_back(*item.as_table(), file_, name_of(key));
    return out;
}

std::vector<std::string> TableReader::strings(std::string_view key,
                                              std::vector<std::string> fallback) {
    const auto* node = lookup(key);
    if (node == nullptr) return fallback;
    const auto* arr = node->as_array();
    if (arr == nullptr) fail(key, "expected an array of strings");
    std::vector<std::string> out;
    for (const auto& item : *arr) {
        const auto* s = item.as_string();
        if (s == nullptr)
            throw ConfigError(fmt::format("{}: {}: expected an array of strings",
                                          location(file_, item.source()), key));
        out.push_back(s->get());
    }
    return out;
}

CidrList TableReader::networks(std::string_view key) {
    std::vector<Cidr> nets;
    const auto* node = table_.get(key);
    for (const auto& text : strings(key, {})) {
        const auto net = Cidr::parse(text);
        if (!net) {
            // Point at the offending element, not just the array.
            std::string loc = where(key);
            if (const auto* arr = node->as_array())
                for (const auto& item : *arr)
                    if (item.value<std::string>() == text) loc = location(file_, item.source());
            throw ConfigError(
                fmt::format("{}: {}: \"{}\" is not an address or network (host bits must be zero)",
                            loc, key, text));
        }
        nets.push_back(*net);
    }
    return CidrList(std::move(nets));
}

std::optional<TableReader> TableReader::table(std::string_view key) {
    const auto* node = lookup(key);
    if (node == nullptr) return std::nullopt;
    const auto* t = node->as_table();
    if (t == nullptr) fail(key, "expected a table");
    return TableReader(*t, file_, name_of(key));
}

void TableReader::reject_unknown_keys() const {
    for (const auto& [key, node] : table_) {
        if (known_.contains(key.str())) continue;
        throw ConfigError(fmt::format("{}: unknown key \"{}\"", location(file_, key.source()),
                                      name_of(key.str())));
    }
}

}  // namespace smtpwall::conf
