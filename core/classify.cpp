// HELO problems and DNS facts become weighted tags, a score and a decision.
#include "core/classify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace smtpwall {

namespace {

using dns::Progress;

void add(Classification& c, std::string_view name, int weight, std::string detail) {
    c.tags.push_back({std::string(name), weight, std::move(detail)});
    c.score += weight;
    c.possible_score += weight;
}

// A lookup that did not finish or failed for now: it counts only as a possibility.
void failed(Classification& c, std::string what, int weight_if_bad) {
    c.temp_failures.push_back(std::move(what));
    if (weight_if_bad > 0) c.possible_score += weight_if_bad;
}

// Host names compared the DNS way: case-insensitive, a trailing dot ignored.
bool same_host(std::string_view a, std::string_view b) {
    if (!a.empty() && a.back() == '.') a.remove_suffix(1);
    if (!b.empty() && b.back() == '.') b.remove_suffix(1);
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// The most a PTR not yet confirmed (or whose confirmation failed for now) can still
// add: unconfirmed (baddns) or confirmed as one of the names DNS gave, judged by that
// name (dialup, generic, a HELO naming another host). Without a name, anything.
int worst_ptr_weight(const ClassifyInput& in, const dns::PtrFacts& ptr, const ScoringPolicy& policy,
                     const dns::DialupDetector& dialup) {
    if (ptr.names.empty() || !in.client)
        return policy.weight(kTagBadDns) + policy.weight(kTagDialup);
    int worst = policy.weight(kTagBadDns);
    for (const auto& name : ptr.names) {
        const auto v = dialup.classify(*in.client, name);
        int weight = v.dynamic   ? policy.weight(kTagDialup)
                     : v.generic ? policy.weight(kTagGenericRdns)
                                 : 0;
        if (in.helo_problem == HeloProblem::none && !in.helo.empty() && !same_host(in.helo, name))
            weight += policy.weight(kTagHeloPtrMismatch);
        worst = std::max(worst, weight);
    }
    return worst;
}

}  // namespace

int ScoringPolicy::weight(std::string_view tag) const {
    const auto it = weights.find(tag);
    return it == weights.end() ? 0 : it->second;
}

Classification classify(const ClassifyInput& in, const ScoringPolicy& policy,
                        const dns::DialupDetector& dialup) {
    Classification c;
    if (in.helo_problem != HeloProblem::none)
        add(c, "bad-helo", policy.weight("bad-helo"),
            std::string(helo_problem_name(in.helo_problem)));

    bool dnswl_failed = false;
    if (in.dns != nullptr) {
        const auto& d = *in.dns;
        using Ptr = dns::PtrFacts::Outcome;
        if (d.ptr.progress == Progress::done) {
            if (d.ptr.outcome == Ptr::no_ptr)
                add(c, kTagBadDns, policy.weight(kTagBadDns), "no-ptr");
            if (d.ptr.outcome == Ptr::unconfirmed)
                add(c, kTagBadDns, policy.weight(kTagBadDns), "ptr-not-confirmed");
            if (d.ptr.outcome == Ptr::temp_error)
                failed(c, "ptr", worst_ptr_weight(in, d.ptr, policy, dialup));
            if (d.ptr.outcome == Ptr::confirmed && in.client) {
                auto v = dialup.classify(*in.client, d.ptr.confirmed_name);
                if (v.dynamic)
                    add(c, kTagDialup, policy.weight(kTagDialup), v.summary());
                else if (v.generic)
                    add(c, kTagGenericRdns, policy.weight(kTagGenericRdns), v.summary());
                c.dialup = std::move(v);
            }
        } else if (d.ptr.progress == Progress::pending) {
            failed(c, "ptr", worst_ptr_weight(in, d.ptr, policy, dialup));
        }

        for (const auto& z : d.zones) {
            // A suspended or refusing zone (over quota) says nothing about this client:
            // it is as if it had not been asked, not a failure to wait out.
            if (z.skipped || z.verdict == dns::ZoneVerdict::refused) continue;
            if (z.progress != Progress::done || z.verdict == dns::ZoneVerdict::failed) {
                failed(c, z.tag, z.weight);
                if (z.weight < 0) dnswl_failed = true;
                continue;
            }
            if (z.verdict != dns::ZoneVerdict::listed) continue;
            if (z.weight < 0) c.dns_allowlisted = true;
            add(c, z.tag, z.weight, fmt::format("{}", fmt::join(dns::code_texts(z), ",")));
        }

        // The HELO name must resolve (A, AAAA or MX); literals and bad syntax are judged above.
        if (in.helo_problem == HeloProblem::none && d.helo.progress != Progress::not_started) {
            using Helo = dns::HeloFacts::Outcome;
            if (d.helo.progress == Progress::pending || d.helo.outcome == Helo::temp_error) {
                failed(c, "helo", policy.weight("bad-helo"));
            } else if (d.helo.outcome == Helo::does_not_resolve) {
                add(c, "bad-helo", policy.weight("bad-helo"), "does-not-resolve");
            } else if (in.client && policy.weight(kTagHeloMismatch) != 0 &&
                       !d.helo.addresses.empty() &&
                       std::none_of(d.helo.addresses.begin(), d.helo.addresses.end(),
                                    [&](const IpAddress& a) {
                                        return a.unmapped() == in.client->unmapped();
                                    })) {
                add(c, kTagHeloMismatch, policy.weight(kTagHeloMismatch),
                    "helo-address-not-client");
            }
        }
        // HELO name and confirmed PTR disagree: common for big senders, so weight 0 by default.
        if (in.helo_problem == HeloProblem::none && policy.weight(kTagHeloPtrMismatch) != 0 &&
            d.ptr.progress == Progress::done &&
            d.ptr.outcome == dns::PtrFacts::Outcome::confirmed && !in.helo.empty() &&
            !same_host(in.helo, d.ptr.confirmed_name))
            add(c, kTagHeloPtrMismatch, policy.weight(kTagHeloPtrMismatch), d.ptr.confirmed_name);

        using Spf = dns::SpfResult;
        if (d.spf.progress == Progress::pending) {
            failed(c, "spf", policy.weight(kTagSpfFail));
        } else if (d.spf.progress == Progress::done) {
            if (d.spf.result == Spf::fail)
                add(c, kTagSpfFail, policy.weight(kTagSpfFail), d.spf.domain);
            if (d.spf.result == Spf::softfail && policy.weight(kTagSpfSoftfail) != 0)
                add(c, kTagSpfSoftfail, policy.weight(kTagSpfSoftfail), d.spf.domain);
            if (d.spf.result == Spf::temperror) failed(c, "spf", policy.weight(kTagSpfFail));
        }
    }

    static const RelayDomains kNoDomains;
    if (in.dns != nullptr)
        c.relay = relay_facts(*in.dns, in.relay_domains ? *in.relay_domains : kNoDomains);
    for (const auto& t : c.tags)
        if (t.weight > 0) c.reject_tags.push_back(t.name);
    if (c.dns_allowlisted) return c;  // exempt: never rejected, never tallied
    if (c.score >= policy.threshold) {
        // An allowlist we could not ask might have spared this client.
        const bool doubt = dnswl_failed;
        c.decision = doubt ? (policy.tempfail_on_dns_failure ? Classification::Decision::tempfail
                                                             : Classification::Decision::reject)
                           : Classification::Decision::reject;
        const auto heaviest =
            std::max_element(c.tags.begin(), c.tags.end(),
                             [](const auto& a, const auto& b) { return a.weight < b.weight; });
        c.deciding_tag = heaviest->name;
    } else if (c.possible_score >= policy.threshold && policy.tempfail_on_dns_failure) {
        c.decision = Classification::Decision::tempfail;
    }
    return c;
}

std::string reject_text(std::string_view tag, const std::optional<IpAddress>& client) {
    const std::string who = client ? fmt::format("[{}]", client->to_string()) : std::string("host");
    if (tag == "bad-helo")
        return "Helo command rejected: HELO/EHLO must name a valid fully-qualified host";
    if (tag == kTagBadDns)
        return fmt::format("Client host rejected: cannot find your hostname, {}", who);
    if (tag == kTagDialup)
        return fmt::format(
            "Client host rejected: {} looks like a dynamic address; use your provider's relay",
            who);
    if (tag == kTagSpfFail || tag == kTagSpfSoftfail)
        return "Sender address rejected: SPF says this host may not send for this domain";
    return fmt::format("Service unavailable; client {} blocked by policy", who);
}

}  // namespace smtpwall
