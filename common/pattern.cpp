// PCRE2 behind Pattern: compile with PCRE2_CASELESS (JIT when the system allows it),
// match with per-call match data under fixed limits.
#include "common/pattern.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include <array>
#include <new>

namespace smtpwall {

struct Pattern::Compiled {
    std::string text;
    pcre2_code* code = nullptr;
    pcre2_match_context* context = nullptr;

    Compiled() = default;
    Compiled(const Compiled&) = delete;
    Compiled& operator=(const Compiled&) = delete;
    ~Compiled() {
        pcre2_code_free(code);
        pcre2_match_context_free(context);
    }
};

std::variant<Pattern, std::string> Pattern::compile(std::string_view text) {
    auto compiled = std::make_shared<Compiled>();
    compiled->text = std::string(text);
    int error = 0;
    PCRE2_SIZE offset = 0;
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                                   PCRE2_CASELESS, &error, &offset, nullptr);
    if (compiled->code == nullptr) {
        std::array<PCRE2_UCHAR, 256> message{};
        pcre2_get_error_message(error, message.data(), message.size());
        return fmt::format("at offset {}: {}", offset,
                           reinterpret_cast<const char*>(message.data()));
    }
    compiled->context = pcre2_match_context_create(nullptr);
    if (compiled->context == nullptr) throw std::bad_alloc();
    // Subjects are short (host names), but a pathological pattern must still not stall
    // a milter thread.
    pcre2_set_match_limit(compiled->context, 100000);
    pcre2_set_depth_limit(compiled->context, 1000);
    // Best effort: without JIT (e.g. W^X memory policies) PCRE2 interprets.
    (void)pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
    return Pattern(std::move(compiled));
}

Pattern::Match Pattern::match(std::string_view subject) const {
    using MatchData = std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)>;
    const MatchData md(pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
    if (md == nullptr) throw std::bad_alloc();
    const int rc = pcre2_match(compiled_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                               subject.size(), 0, 0, md.get(), compiled_->context);
    if (rc >= 0) return Match::yes;
    return rc == PCRE2_ERROR_NOMATCH ? Match::no : Match::error;
}

const std::string& Pattern::text() const {
    return compiled_->text;
}

}  // namespace smtpwall
