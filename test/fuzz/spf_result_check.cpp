// The SPF result property (see spf_result_check.hpp): the input decoder and, per part,
// the promises of dnsbl/spf_eval.hpp, dnsbl/spf_result.hpp and core/classify.hpp, with
// libspf2's own names and the DNS type numbers as oracles.
#include "test/fuzz/spf_result_check.hpp"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

// libspf2's headers have no extern "C" guards of their own.
extern "C" {
#include <spf2/spf.h>
}

#include "common/log.hpp"
#include "core/classify.hpp"
#include "dnsbl/facts.hpp"
#include "dnsbl/result.hpp"
#include "dnsbl/spf_eval.hpp"
#include "test/fuzz/check_failure.hpp"

namespace smtpwall::fuzz {

namespace {

using dns::Progress;

void require(bool ok, std::string_view what, std::string_view input, std::string_view detail = {}) {
    if (!ok) check_failed("spf result", what, input, detail);
}

// Reads the next n bytes (zeros past the end).
struct Reader {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t at = 0;
    std::uint8_t byte() { return at < size ? data[at++] : 0; }
    int integer() {
        std::array<std::uint8_t, sizeof(int)> bytes{};
        for (auto& b : bytes) b = byte();
        int out = 0;
        std::memcpy(&out, bytes.data(), sizeof out);
        return out;
    }
    std::string_view rest() const {
        return at < size ? std::string_view(reinterpret_cast<const char*>(data + at), size - at)
                         : std::string_view{};
    }
};

bool verdict(SpfResult r) {
    return r == SpfResult::pass || r == SpfResult::fail || r == SpfResult::softfail ||
           r == SpfResult::neutral || r == SpfResult::none;
}

// ---- 0: libspf2's result and error codes ----

void check_codes(Reader& in) {
    const int result = in.integer();
    const int error = in.integer();
    const std::string input =
        "result=" + std::to_string(result) + " error=" + std::to_string(error);
    const SpfResult r = spf_detail::spf_result_of(result, error);
    const std::string_view name = to_string(r);
    if (result >= SPF_RESULT_NEUTRAL && result <= SPF_RESULT_PERMERROR) {
        require(name == SPF_strresult(static_cast<SPF_result_t>(result)),
                "a libspf2 result changed its name", input, name);
        return;
    }
    require(!verdict(r), "INVALID or an undefined result became a verdict", input, name);
    require(r == SpfResult::temperror || r == SpfResult::permerror,
            "INVALID or an undefined result is not an error", input, name);
    if (result == SPF_RESULT_INVALID && error == SPF_E_DNS_ERROR)
        require(r == SpfResult::temperror, "a DNS failure became permerror", input, name);
}

// ---- 1: SPF facts through the classifier ----

void check_classify(Reader& in) {
    dns::DnsFacts facts;
    facts.spf.progress = static_cast<Progress>(in.byte() % 3);
    facts.spf.result = static_cast<SpfResult>(in.byte() % 7);
    ScoringPolicy policy;
    const int fail_weight = static_cast<std::int8_t>(in.byte());
    const int softfail_weight = static_cast<std::int8_t>(in.byte());
    policy.weights[std::string(kTagSpfFail)] = fail_weight;
    policy.weights[std::string(kTagSpfSoftfail)] = softfail_weight;
    policy.threshold = 1 + in.byte() % 200;
    policy.tempfail_on_dns_failure = (in.byte() & 1) != 0;
    facts.spf.domain = std::string(in.rest());
    const std::string input =
        fmt::format("progress={} result={} weights={}/{} threshold={} tempfail={} domain={}",
                    static_cast<int>(facts.spf.progress), to_string(facts.spf.result), fail_weight,
                    softfail_weight, policy.threshold, policy.tempfail_on_dns_failure,
                    kv_value(facts.spf.domain));

    ClassifyInput ci;
    ci.client = IpAddress::parse("192.0.2.7");
    ci.dns = &facts;
    static const dns::DialupDetector dialup;
    const Classification c = classify(ci, policy, dialup);

    const bool done = facts.spf.progress == Progress::done;
    const SpfResult r = facts.spf.result;
    std::string_view tag;
    int weight = 0;
    if (done && r == SpfResult::fail) {
        tag = kTagSpfFail;
        weight = fail_weight;
    } else if (done && r == SpfResult::softfail && softfail_weight != 0) {
        tag = kTagSpfSoftfail;
        weight = softfail_weight;
    }
    if (tag.empty()) {
        require(c.tags.empty() && c.score == 0, "a tag without an SPF fail", input);
    } else {
        require(c.tags.size() == 1 && c.tags[0].name == tag && c.tags[0].weight == weight &&
                    c.tags[0].detail == facts.spf.domain && c.score == weight,
                "the SPF tag is not the one the result gives", input);
    }
    const bool temporary =
        facts.spf.progress == Progress::pending || (done && r == SpfResult::temperror);
    require(c.temp_failures == std::vector<std::string>(temporary ? 1 : 0, "spf"),
            "temporary failures are not the pending or temperror SPF check", input);
    require((c.decision == Classification::Decision::reject) ==
                (!tag.empty() && weight >= policy.threshold),
            "rejected other than by an SPF fail reaching the threshold", input);
    if (c.decision == Classification::Decision::reject)
        require(c.deciding_tag == tag && c.reject_tags == std::vector<std::string>{c.deciding_tag},
                "a reject decided by another tag", input, c.deciding_tag);
    require((c.decision == Classification::Decision::tempfail) ==
                (temporary && policy.tempfail_on_dns_failure && fail_weight >= policy.threshold),
            "tempfail is not exactly a failed SPF check that could have rejected", input);
    require(!c.dns_allowlisted, "SPF made an allowlisting", input);
}

// ---- 2: the identity checked ----

void check_identity(Reader& in) {
    const std::string_view rest = in.rest();
    const auto nul = rest.find('\0');
    const std::string_view sender = rest.substr(0, nul);
    const std::string_view helo =
        nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
    const std::string input = "sender=" + kv_value(sender) + " helo=" + kv_value(helo);

    std::string_view bare = sender;
    if (bare.size() >= 2 && bare.front() == '<' && bare.back() == '>')
        bare = bare.substr(1, bare.size() - 2);
    const auto id = spf_detail::spf_identity(sender, helo);
    const bool no_domain = helo.empty() || helo.find('@') != std::string_view::npos;
    require(id.has_value() == !(bare.empty() && no_domain), "nothing to check misjudged", input);
    if (!id) return;
    require(id->helo == bare.empty(), "the HELO identity for a sender", input);
    const auto at = bare.rfind('@');
    const std::string_view domain = bare.empty()                   ? helo
                                    : at == std::string_view::npos ? bare
                                                                   : bare.substr(at + 1);
    require(id->domain == domain, "the checked domain is not the sender's", input, id->domain);
    const std::string_view local =
        at == std::string_view::npos ? std::string_view{} : bare.substr(0, at);
    require(id->mail_from ==
                (local.empty() ? std::string("postmaster") : std::string(local)) + "@" + id->domain,
            "libspf2's sender is not LOCAL@DOMAIN", input, id->mail_from);
    const std::string& from = id->mail_from;
    if (!(from.size() >= 2 && from.front() == '<' && from.back() == '>')) {
        const auto again = spf_detail::spf_identity(from, helo);
        require(again && again->domain == id->domain && again->mail_from == from && !again->helo,
                "the sender made does not have the same identity", input, from);
    }
}

// ---- 3: DNS outcomes as libspf2 sees them ----

void check_dns(Reader& in) {
    dns::Result result;
    result.status = static_cast<dns::Status>(in.byte() % 7);
    const std::uint8_t records = in.byte();
    if (records & 1) result.addresses.push_back(*IpAddress::parse("192.0.2.1"));
    if (records & 2) result.names.push_back("mx.example.org");
    if (records & 4) result.texts.push_back("v=spf1 -all");
    const int ns_type = in.integer();
    const std::string input =
        fmt::format("status={} records={} type={}", to_string(result.status), records & 7, ns_type);

    const int h = spf_detail::herrno_for(result);
    require(h == NETDB_SUCCESS || h == HOST_NOT_FOUND || h == NO_DATA || h == TRY_AGAIN,
            "an h_errno libspf2 does not expect", input, std::to_string(h));
    const bool any = (records & 7) != 0;
    require((h == NETDB_SUCCESS) == (result.status == dns::Status::ok && any),
            "NETDB_SUCCESS is not exactly an answer with records", input);
    require((h == TRY_AGAIN) == result.temporary(), "TRY_AGAIN is not exactly a temporary failure",
            input);
    require((h == HOST_NOT_FOUND) == (result.status == dns::Status::nxdomain),
            "HOST_NOT_FOUND is not exactly NXDOMAIN", input);

    const auto rtype = spf_detail::rtype_for(ns_type);
    const bool asked = ns_type == ns_t_a || ns_type == ns_t_aaaa || ns_type == ns_t_mx ||
                       ns_type == ns_t_txt || ns_type == ns_t_ptr;
    require(rtype.has_value() == asked, "a query type mapped or not mapped wrongly", input);
    if (rtype)
        require(static_cast<int>(*rtype) == ns_type, "a query type became another type", input,
                dns::to_string(*rtype));
}

}  // namespace

void check_spf_result(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return;
    Reader in{data, size, 1};
    switch (data[0] % 4) {
        case 0:
            check_codes(in);
            break;
        case 1:
            check_classify(in);
            break;
        case 2:
            check_identity(in);
            break;
        default:
            check_dns(in);
            break;
    }
}

}  // namespace smtpwall::fuzz
