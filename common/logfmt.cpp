// kv_value and kv: the logfmt escaping (grammar in common/logfmt.hpp).
#include "common/logfmt.hpp"

#include <fmt/format.h>

namespace smtpwall {

namespace {
constexpr std::size_t kMaxValue = 256;
}  // namespace

std::string kv_value(std::string_view value) {
    bool plain = !value.empty();
    for (unsigned char c : value)
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=') plain = false;
    if (plain && value.size() <= kMaxValue) return std::string(value);

    std::string out = "\"";
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (i == kMaxValue) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(value[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f || c == '=') {
            append_hex_escape(out, c);
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}

std::string kv(std::string_view key, std::string_view value) {
    return fmt::format("{}={}", key, kv_value(value));
}

}  // namespace smtpwall
