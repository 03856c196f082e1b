// How values are shown as TOML (for the documentation test and `--list-settings`).
#include "conf/schema.hpp"

namespace smtpwall::conf {

std::string toml_string(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string toml_strings(const std::vector<std::string>& list) {
    std::vector<std::string> quoted;
    for (const auto& s : list) quoted.push_back(toml_string(s));
    return fmt::format("[{}]", fmt::join(quoted, ", "));
}

// The largest unit that divides the duration: 600s is "10m", 7 days "7d".
std::string toml_duration(std::chrono::seconds d) {
    const auto s = d.count();
    if (s != 0 && s % 86400 == 0) return fmt::format("{}d", s / 86400);
    if (s != 0 && s % 3600 == 0) return fmt::format("{}h", s / 3600);
    if (s != 0 && s % 60 == 0) return fmt::format("{}m", s / 60);
    return fmt::format("{}s", s);
}

std::string toml_duration(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0)
        return toml_duration(std::chrono::duration_cast<std::chrono::seconds>(d));
    return fmt::format("{}ms", d.count());
}

std::string render_settings(const std::vector<SettingInfo>& settings) {
    std::size_t name_width = 0, value_width = 0;
    auto value = [](const SettingInfo& s) {
        return s.required ? std::string("(required)") : s.default_value;
    };
    for (const auto& s : settings) {
        name_width = std::max(name_width, s.name.size());
        value_width = std::max(value_width, std::min<std::size_t>(value(s).size(), 40));
    }
    std::string out;
    for (const auto& s : settings)
        out +=
            fmt::format("{:<{}}  {:<{}}  {:<7}  {}: {}\n", s.name, name_width, value(s),
                        value_width, s.reload == Reload::live ? "live" : "restart", s.type, s.doc);
    return out;
}

}  // namespace smtpwall::conf
