// kv_value and kv: the logfmt escaping (grammar in common/logfmt.hpp).
#include "common/logfmt.hpp"

namespace smtpwall {

namespace {
constexpr std::size_t kMaxValue = 256;
}  // namespace

void append_kv_value(std::string& out, std::string_view value) {
    bool plain = !value.empty() && value.size() <= kMaxValue;
    for (unsigned char c : value)
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=') plain = false;
    if (plain) {
        out.append(value);
        return;
    }
    out += '"';
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
}

std::string kv_value(std::string_view value) {
    std::string out;
    append_kv_value(out, value);
    return out;
}

std::string kv(std::string_view key, std::string_view value) {
    std::string out(key);
    out += '=';
    append_kv_value(out, value);
    return out;
}

void append_kv(std::string& line, std::string_view key, std::string_view value) {
    if (!line.empty()) line += ' ';
    line.append(key);
    line += '=';
    append_kv_value(line, value);
}

}  // namespace smtpwall
