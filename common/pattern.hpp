// An operator's regular expression (PCRE2, case-insensitive), compiled once when the
// configuration is read, so a bad one is a config error with file:line and never a
// surprise later. Copies share the compiled code; matching is thread-safe and
// bounded (match and depth limits), so a pathological pattern cannot stall a thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace smtpwall {

class Pattern {
  public:
    enum class Match { yes, no, error };  // error: a PCRE2 limit was hit (treat as no)

    // The pattern, or PCRE2's complaint ("at offset 3: missing closing parenthesis").
    static std::variant<Pattern, std::string> compile(std::string_view text);

    Match match(std::string_view subject) const;
    const std::string& text() const;
    bool operator==(const Pattern& other) const { return text() == other.text(); }

  private:
    struct Compiled;
    explicit Pattern(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
    std::shared_ptr<const Compiled> compiled_;
};

}  // namespace smtpwall
