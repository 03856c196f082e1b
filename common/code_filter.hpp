// The return-code filter of a DNS block or allow list, in postscreen's syntax:
// which A answers count as a listing. Pure value; the config parses it once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"

namespace smtpwall {

// postscreen-style return-code filter for A answers:
//   "127.0.0.2", "127.0.0.[2..11]", "127.0.[0..255].[1;3;5..7]"; empty: any 127/8 code.
class CodeFilter {
  public:
    static std::optional<CodeFilter> parse(std::string_view text);
    bool matches(const IpAddress& code) const;
    const std::string& text() const { return text_; }
    bool operator==(const CodeFilter& other) const { return text_ == other.text_; }

  private:
    struct Range {
        std::uint8_t low = 0, high = 255;
    };
    std::string text_;
    std::vector<std::vector<Range>> octets_;  // 4 entries, each a union of ranges; empty: any
};

}  // namespace smtpwall
