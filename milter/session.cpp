#include "milter/session.hpp"

#include <algorithm>

namespace smtpwall {

SessionPolicy::SessionPolicy(const conf::MilterConfig& config)
    : own{config.identity.hostnames, config.identity.addresses},
      spamtraps(config.checks.spamtraps),
      exempt(config.checks.exempt_recipients),
      allowlist(config.checks.allowlist) {}

std::string_view stage_name(Stage stage) {
    switch (stage) {
        case Stage::connect:
            return "connect";
        case Stage::helo:
            return "helo";
        case Stage::mail:
            return "mail";
        case Stage::rcpt:
            return "rcpt";
        case Stage::data:
            return "data";
    }
    return "?";
}

Session::Session(std::shared_ptr<const SessionPolicy> policy, std::optional<IpAddress> client,
                 std::string client_name)
    : policy_(std::move(policy)) {
    if (client) client = client->unmapped();
    record_.client = client;
    record_.client_name = std::move(client_name);
    record_.allowlisted = client && policy_->allowlist.contains(*client);
}

void Session::add_own_hostname(std::string_view name) {
    if (!name.empty()) own_hostnames_.emplace_back(name);
}

void Session::add_own_address(const IpAddress& addr) {
    own_addresses_.push_back(addr);
}

void Session::mark_banned() {
    banned_ = true;
}

void Session::helo(std::string_view name) {
    record_.helo.assign(name);
    OwnIdentity own = policy_->own;
    own.hostnames.insert(own.hostnames.end(), own_hostnames_.begin(), own_hostnames_.end());
    own.addresses.insert(own.addresses.end(), own_addresses_.begin(), own_addresses_.end());
    // A client may say EHLO again (after STARTTLS): the latest greeting counts.
    const auto problem = check_helo(name, record_.client, own);
    bad_helo_ = problem != HeloProblem::none;
    record_.helo_problem = bad_helo_ ? std::string(helo_problem_name(problem)) : std::string{};
    if (bad_helo_) record_.tags.emplace(kTagBadHelo);
}

void Session::mail_from(std::string_view sender, bool authenticated) {
    record_.last_sender.assign(sender);
    record_.authenticated = record_.authenticated || authenticated;
}

Verdict Session::reject(Stage stage, std::string code, std::string xcode, std::string text,
                        std::string_view tag) {
    if (!record_.first_reject) record_.first_reject = stage;
    record_.tags.emplace(tag);
    return Verdict{
        Action::reject, std::move(code), std::move(xcode), std::move(text), {std::string(tag)}};
}

Verdict Session::recipient(std::string_view raw_recipient) {
    const auto rcpt = canonical_recipient(raw_recipient);
    if (policy_->exempt.matches(rcpt) || exempt_client()) {
        ++record_.accepted_rcpts;
        ++accepted_in_message_;
        return {};
    }
    Verdict verdict;
    if (policy_->spamtraps.matches(rcpt)) {
        trap_hit_ = trap_in_message_ = true;
        verdict = reject(Stage::rcpt, "550", "5.1.1", "Recipient address rejected: User unknown",
                         kTagSpamtrap);
    } else if (trap_hit_) {
        verdict = reject(Stage::rcpt, "550", "5.7.1", "Rejected by policy", kTagSpamtrap);
    } else if (banned_) {
        verdict = reject(Stage::rcpt, "554", "5.7.1",
                         "Service unavailable; client blocked by policy", kTagBanned);
    } else if (bad_helo_) {
        verdict = reject(Stage::rcpt, "550", "5.7.1",
                         "Helo command rejected: HELO/EHLO must name a valid fully-qualified host",
                         kTagBadHelo);
    }
    if (verdict.rejected()) {
        ++record_.rejected_rcpts;
    } else {
        ++record_.accepted_rcpts;
        ++accepted_in_message_;
    }
    return verdict;
}

Verdict Session::data() {
    // Spam that reached a trap must not reach the real recipients listed beside it.
    if (trap_in_message_ && !exempt_client())
        return reject(Stage::data, "550", "5.7.1", "Message rejected by policy", kTagSpamtrap);
    return {};
}

void Session::end_transaction(bool message_accepted) {
    if (message_accepted && accepted_in_message_ > 0) ++record_.messages;
    trap_in_message_ = false;
    accepted_in_message_ = 0;
}

}  // namespace smtpwall
