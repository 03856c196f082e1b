// One SMTP session's facts, verdicts and the stage each verdict is delivered at.
#include "core/session.hpp"

#include <algorithm>

#include "common/enum_names.hpp"

namespace smtpwall {

SessionPolicy::SessionPolicy(const conf::MilterConfig& config)
    : own{config.identity.hostnames, config.identity.addresses},
      spamtraps(config.checks.spamtraps),
      exempt(config.checks.exempt_recipients),
      allowlist(config.checks.allowlist),
      dialup(config.dialup.patterns),
      relay_domains(config.shared_relays.domains()),
      embedding(config.tally.nat64_prefixes, false) {
    scoring.threshold = config.scoring.threshold;
    for (const auto& [tag, weight] : config.scoring.weights) scoring.weights[tag] = weight;
    scoring.tempfail_on_dns_failure = config.dns.tempfail_on_failure;
    credits_delivered_mail =
        config.shared_relays.good_mail > 0 || config.escalation.good_mail_ratio > 0;
}

constexpr EnumNames<Stage, 5> kStageNames{{
    {Stage::connect, "connect"},
    {Stage::helo, "helo"},
    {Stage::mail, "mail"},
    {Stage::rcpt, "rcpt"},
    {Stage::data, "data"},
}};

std::string_view stage_name(Stage stage) {
    return name_of(kStageNames, stage);
}

Session::Session(std::shared_ptr<const SessionPolicy> policy, std::optional<IpAddress> client,
                 std::string client_name)
    : policy_(std::move(policy)) {
    if (client) {
        client = client->unmapped();
        if (const auto carried = policy_->embedding.carried(*client)) {
            record_.peer = client;
            client = carried;
        }
    }
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
    helo_problem_ = check_helo(name, record_.client, own);
    record_.helo_problem =
        helo_valid() ? std::string{} : std::string(helo_problem_name(helo_problem_));
    classification_.reset();
}

void Session::set_dns(dns::DnsFacts facts) {
    dns_ = std::move(facts);
    classification_.reset();
}

ClassifyInput Session::classify_input(const dns::DnsFacts* facts) const {
    return {record_.client, helo_problem_, record_.helo, facts, &policy_->relay_domains};
}

const Classification& Session::classification() {
    if (!classification_) {
        classification_ =
            classify(classify_input(dns_ ? &*dns_ : nullptr), policy_->scoring, policy_->dialup);
        record_.score = classification_->score;
        for (const auto& t : classification_->tags) record_.tags.insert(t.name);
        if (dns_) {
            record_.ptr = dns_->ptr.confirmed_name;
            record_.listed.clear();
            for (const auto& z : dns_->zones)
                if (z.verdict == dns::ZoneVerdict::listed && z.progress == dns::Progress::done)
                    record_.listed += (record_.listed.empty() ? "" : ",") + z.tag;
        }
    }
    return *classification_;
}

bool Session::exempt_client() {
    return record_.allowlisted || record_.authenticated || classification().dns_allowlisted;
}

void Session::mail_from(std::string_view sender, bool authenticated) {
    // MAIL FROM starts a new transaction even when the last one never ended:
    // after a refused DATA libmilter is back at HELO and drops the MTA's ABORT,
    // so xxfi_abort (end_transaction) never comes for that message.
    trap_in_message_ = false;
    accepted_in_message_ = 0;
    data_judged_ = false;
    record_.last_sender.assign(sender);
    record_.authenticated = record_.authenticated || authenticated;
}

Verdict Session::reject(Stage stage, std::string code, std::string xcode, std::string text,
                        std::vector<std::string> tags) {
    if (!record_.first_reject) record_.first_reject = stage;
    record_.tags.insert(tags.begin(), tags.end());
    return Verdict{Action::reject, std::move(code), std::move(xcode), std::move(text),
                   std::move(tags)};
}

Verdict Session::recipient(std::string_view raw_recipient) {
    const auto rcpt = canonical_recipient(raw_recipient);
    const bool exempt = exempt_client();
    if (exempt || policy_->exempt.matches(rcpt)) {
        ++record_.accepted_rcpts;
        ++accepted_in_message_;
        Verdict accepted;
        accepted.settles_message = exempt;
        return accepted;
    }
    Verdict verdict;
    const auto one = [](std::string_view tag) {
        return std::vector<std::string>{std::string(tag)};
    };
    if (policy_->spamtraps.matches(rcpt)) {
        trap_hit_ = trap_in_message_ = true;
        verdict = reject(Stage::rcpt, "550", "5.1.1", "Recipient address rejected: User unknown",
                         one(kTagSpamtrap));
    } else if (trap_hit_) {
        verdict = reject(Stage::rcpt, "550", "5.7.1", "Rejected by policy", one(kTagSpamtrap));
    } else if (banned_) {
        verdict = reject(Stage::rcpt, "554", "5.7.1",
                         "Service unavailable; client blocked by policy", one(kTagBanned));
    } else {
        const auto& c = classification();
        if (c.decision == Classification::Decision::reject) {
            verdict = reject(Stage::rcpt, "550", "5.7.1",
                             reject_text(c.deciding_tag, record_.client), c.reject_tags);
        } else if (c.decision == Classification::Decision::tempfail) {
            record_.tempfailed = true;
            verdict =
                Verdict{Action::tempfail,
                        "451",
                        "4.7.1",
                        "Temporary DNS failure while checking your host; please try again later",
                        {}};
        }
    }
    if (verdict.rejected()) {
        ++record_.rejected_rcpts;
    } else if (verdict.action == Action::accept) {
        ++record_.accepted_rcpts;
        ++accepted_in_message_;
    }
    return verdict;
}

std::optional<std::vector<std::string>> Session::mta_rejected_recipient(
    std::string_view rcpt_host, std::string_view rcpt_addr) {
    ++record_.mta_rejected_rcpts;
    // Temporary rejections (greylisting, a full disk) say nothing about the client.
    if (exempt_client() || classify_mta_rejection(rcpt_host, rcpt_addr) != MtaRejection::permanent)
        return std::nullopt;
    record_.tags.emplace(kTagBadRcpt);
    return std::vector<std::string>{std::string(kTagBadRcpt)};
}

bool Session::accepts_whatever_comes(std::string_view raw_recipient,
                                     const dns::DnsFacts& facts) const {
    const auto rcpt = canonical_recipient(raw_recipient);
    if (policy_->exempt.matches(rcpt)) return true;
    if (policy_->spamtraps.matches(rcpt) || trap_hit_ || banned_) return false;
    if (record_.allowlisted || record_.authenticated) return true;
    const auto c = classify(classify_input(&facts), policy_->scoring, policy_->dialup);
    // possible_score: every pending or failed lookup counted against the client.
    return c.dns_allowlisted || (c.decision == Classification::Decision::accept &&
                                 c.possible_score < policy_->scoring.threshold);
}

Verdict Session::data() {
    data_judged_ = true;
    // Spam that reached a trap must not reach the real recipients listed beside it.
    // No tags: the trap hit was counted at RCPT; refusing its message is no new offence.
    if (trap_in_message_ && !exempt_client())
        return Verdict{Action::reject, "550", "5.7.1", "Message rejected by policy", {}};
    Verdict accepted;
    accepted.settles_message = !policy_->credits_delivered_mail;
    return accepted;
}

Verdict Session::end_of_message() {
    return data_judged_ ? Verdict{} : data();
}

bool Session::end_transaction(bool message_accepted) {
    const bool accepted = message_accepted && accepted_in_message_ > 0;
    if (accepted) ++record_.messages;
    trap_in_message_ = false;
    accepted_in_message_ = 0;
    data_judged_ = false;
    return accepted;
}

}  // namespace smtpwall
