// libspf2 glue: one Evaluator per worker thread, DNS answered by our resolver.
#include "dnsbl/spf_eval.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>

// libspf2's headers have no extern "C" guards of their own.
extern "C" {
#include <spf2/spf.h>
}

#include "dnsbl/names.hpp"

namespace smtpwall::spf_detail {

namespace {

// smtpwall's default explanation for fail/softfail/neutral; libspf2's own points at
// the long-gone openspf.org. %{c} is the client address in readable form; spaces
// are written %_ because libspf2 compiles this like a record's macro-string.
constexpr const char* default_exp = "%{c}%_is%_not%_a%_permitted%_sender%_for%_%{o}";

// ---- libspf2's process-wide message handlers --------------------------------------
// libspf2 prints info and debug messages to stdout and warnings to stderr. stdout
// belongs to smtpwallctl's output (--json), so info/debug are dropped; warnings keep
// going to stderr, which the daemon logs. The error handler (libspf2's assertion
// failure, which aborts) is left alone: our DNS layer never returns NULL, so it is
// never reached through us.
void quiet(const char* /*file*/, int /*line*/, const char* /*message*/) {}
void warn(const char* /*file*/, int /*line*/, const char* message) {
    std::fprintf(stderr, "libspf2 warning: %s\n", message != nullptr ? message : "");
}
void install_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        SPF_info_handler = quiet;
        SPF_debug_handler = quiet;
        SPF_warning_handler = warn;
    });
}

struct RequestFree {
    void operator()(SPF_request_t* r) const { SPF_request_free(r); }
};
struct ResponseFree {
    void operator()(SPF_response_t* r) const { SPF_response_free(r); }
};

std::string text_or_empty(const char* s) {
    return s != nullptr ? std::string(s) : std::string();
}

}  // namespace

// ---- pure rules ------------------------------------------------------------------

std::optional<Identity> spf_identity(std::string_view sender, std::string_view helo) {
    if (sender.size() >= 2 && sender.front() == '<' && sender.back() == '>') {
        sender = sender.substr(1, sender.size() - 2);
    }
    Identity id;
    if (sender.empty()) {
        // A HELO with an '@' is no domain (RFC 7208 §4.3: none), and libspf2 would judge
        // what follows the '@' of postmaster@HELO instead.
        if (helo.empty() || helo.find('@') != std::string_view::npos) return std::nullopt;
        id.helo = true;
        id.domain = std::string(helo);
        id.mail_from = "postmaster@" + id.domain;
        return id;
    }
    const std::size_t at = sender.rfind('@');
    if (at == std::string_view::npos) {
        id.domain = std::string(sender);
        id.mail_from = "postmaster@" + id.domain;
    } else {
        id.domain = std::string(sender.substr(at + 1));
        const std::string_view local = sender.substr(0, at);
        id.mail_from =
            (local.empty() ? std::string("postmaster") : std::string(local)) + "@" + id.domain;
    }
    return id;
}

SpfResult spf_result_of(int result, int error) {
    switch (result) {
        case SPF_RESULT_PASS:
            return SpfResult::pass;
        case SPF_RESULT_FAIL:
            return SpfResult::fail;
        case SPF_RESULT_SOFTFAIL:
            return SpfResult::softfail;
        case SPF_RESULT_NEUTRAL:
            return SpfResult::neutral;
        case SPF_RESULT_NONE:
            return SpfResult::none;
        case SPF_RESULT_TEMPERROR:
            return SpfResult::temperror;
        case SPF_RESULT_PERMERROR:
            return SpfResult::permerror;
        case SPF_RESULT_INVALID:
            // No comment comes with it. A temporary DNS failure on that TXT lookup comes
            // back as SPF_E_DNS_ERROR (our layer never says NO_RECOVERY, the other source
            // of it); anything else is a record that does not compile.
            return error == SPF_E_DNS_ERROR || error == SPF_E_NO_MEMORY ? SpfResult::temperror
                                                                        : SpfResult::permerror;
        default:
            return SpfResult::permerror;
    }
}

int herrno_for(const dns::Result& result) {
    switch (result.status) {
        case dns::Status::ok:
            return result.addresses.empty() && result.names.empty() && result.texts.empty()
                       ? NO_DATA
                       : NETDB_SUCCESS;
        case dns::Status::nxdomain:
            return HOST_NOT_FOUND;
        case dns::Status::nodata:
            return NO_DATA;
        case dns::Status::servfail:
        case dns::Status::refused:
        case dns::Status::timeout:
        case dns::Status::error:
            return TRY_AGAIN;
    }
    return TRY_AGAIN;
}

std::optional<dns::RType> rtype_for(int ns_type) {
    switch (ns_type) {
        case ns_t_a:
            return dns::RType::A;
        case ns_t_aaaa:
            return dns::RType::AAAA;
        case ns_t_mx:
            return dns::RType::MX;
        case ns_t_txt:
            return dns::RType::TXT;
        case ns_t_ptr:
            return dns::RType::PTR;
        default:
            return std::nullopt;
    }
}

// ---- the libspf2 DNS layer -------------------------------------------------------

class Evaluator::Impl {
  public:
    explicit Impl(const std::string& local_hostname) {
        install_handlers();
        // Our layer is a member, not malloc'ed by libspf2: destroy stays NULL, so no
        // libspf2 code path ever frees it (SPF_dns_free skips layers without a
        // destructor, and SPF_server_new_dns marks the resolver as not owned).
        std::memset(&layer_, 0, sizeof layer_);
        layer_.destroy = nullptr;
        layer_.lookup = &Impl::lookup_hook;
        layer_.get_spf = nullptr;  // libspf2 fetches TXT itself through lookup
        layer_.get_exp = nullptr;
        layer_.add_cache = nullptr;
        layer_.layer_below = nullptr;  // nothing below: never the system resolver
        layer_.name = "smtpwall";
        layer_.debug = 0;
        layer_.hook = this;
        server_ = SPF_server_new_dns(&layer_, 0);
        if (server_ == nullptr) throw std::bad_alloc();
        if (!local_hostname.empty() &&
            SPF_server_set_rec_dom(server_, local_hostname.c_str()) != SPF_E_SUCCESS) {
            SPF_server_free(server_);
            throw std::bad_alloc();
        }
        // Explanations and comments carry text from the sender's DNS: keep them printable.
        SPF_server_set_sanitize(server_, 1);
        SPF_response_t* errors = nullptr;
        SPF_server_set_explanation(server_, default_exp, &errors);
        if (errors != nullptr) SPF_response_free(errors);
    }
    ~Impl() { SPF_server_free(server_); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    SpfOutcome evaluate(const IpAddress& client, std::string_view helo, std::string_view sender,
                        const BlockingLookup& lookup);

  private:
    // libspf2 calls this for every question. It must return a fresh record that the
    // caller frees with SPF_dns_rr_free, and never NULL (libspf2 aborts on NULL).
    static SPF_dns_rr_t* lookup_hook(SPF_dns_server_t* layer, const char* domain, ns_type type,
                                     int /*should_cache*/) {
        return static_cast<Impl*>(layer->hook)
            ->answer(layer, domain != nullptr ? domain : "", type);
    }

    SPF_dns_rr_t* answer(SPF_dns_server_t* layer, const char* domain, ns_type type) noexcept;

    SPF_dns_server_t layer_{};
    SPF_server_t* server_ = nullptr;
    // Per evaluation.
    const BlockingLookup* lookup_ = nullptr;
    bool stopped_ = false;
    int lookups_ = 0;
};

namespace {

// The one place where libspf2's C layout is handled. SPF_dns_rr_data_t is a union
// whose char[1] members stand for strings that SPF_dns_rr_buf_realloc made long
// enough: the string is written through a pointer to the whole buffer, so neither
// the compiler nor _FORTIFY_SOURCE sees a write past a one-char array.
bool put_string(SPF_dns_rr_t* rr, int index, const std::string& text) {
    if (SPF_dns_rr_buf_realloc(rr, index, text.size() + 1) != SPF_E_SUCCESS) return false;
    char* out = static_cast<char*>(static_cast<void*>(rr->rr[index]));
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    return true;
}

bool put_address(SPF_dns_rr_t* rr, int index, const IpAddress& addr) {
    if (SPF_dns_rr_buf_realloc(rr, index, sizeof(SPF_dns_rr_data_t)) != SPF_E_SUCCESS) {
        return false;
    }
    if (addr.family == Family::v4) {
        std::memcpy(&rr->rr[index]->a, addr.bytes.data(), sizeof(in_addr));
    } else {
        std::memcpy(&rr->rr[index]->aaaa, addr.bytes.data(), sizeof(in6_addr));
    }
    return true;
}

// Fills rr with the records of `result` that match the asked type.
bool fill(SPF_dns_rr_t* rr, ns_type type, const dns::Result& result) {
    int n = 0;
    const auto add_names = [&](const std::vector<std::string>& names) {
        for (const auto& name : names) {
            if (n == std::numeric_limits<int>::max() || !put_string(rr, n, name)) return false;
            ++n;
        }
        return true;
    };
    bool ok = true;
    switch (type) {
        case ns_t_a:
        case ns_t_aaaa: {
            const Family want = type == ns_t_a ? Family::v4 : Family::v6;
            for (const auto& addr : result.addresses) {
                if (addr.family != want) continue;
                if (!put_address(rr, n, addr)) {
                    ok = false;
                    break;
                }
                ++n;
            }
            break;
        }
        case ns_t_mx:
        case ns_t_ptr:
            ok = add_names(result.names);
            break;
        case ns_t_txt:
            ok = add_names(result.texts);
            break;
        default:
            break;
    }
    rr->num_rr = n;
    return ok;
}

}  // namespace

SPF_dns_rr_t* Evaluator::Impl::answer(SPF_dns_server_t* layer, const char* domain,
                                      ns_type type) noexcept {
    int herrno = TRY_AGAIN;
    std::uint32_t ttl = 0;
    std::optional<dns::Result> result;
    try {
        const auto rtype = rtype_for(type);
        const auto name = dns::normalize_name(domain);
        if (!name) {
            // A name our resolver refuses to send (bad characters from a macro-expanded
            // local part, over-long, empty labels): no such host can exist, as far as
            // SPF is concerned (RFC 7208 §4.3: a malformed domain yields none).
            herrno = HOST_NOT_FOUND;
        } else if (!rtype) {
            herrno = NO_DATA;  // type SPF(99) and anything else we do not ask for
        } else if (stopped_ || lookup_ == nullptr) {
            herrno = TRY_AGAIN;
        } else {
            ++lookups_;
            result = (*lookup_)(*name, *rtype);
            if (!result) {
                stopped_ = true;
                herrno = TRY_AGAIN;
            } else {
                herrno = herrno_for(*result);
                ttl = result->ttl;
                if (herrno != NETDB_SUCCESS) result.reset();
            }
        }
    } catch (...) {
        // std::bad_alloc or a throwing lookup: a temporary failure, never a verdict.
        herrno = TRY_AGAIN;
        result.reset();
    }
    const int rr_ttl = static_cast<int>(std::min<std::uint32_t>(ttl, 86400 * 7));
    SPF_dns_rr_t* rr = SPF_dns_rr_new_init(layer, domain, type, rr_ttl, herrno);
    if (rr == nullptr) return rr;  // out of memory: libspf2 aborts, there is no way around it
    if (result) {
        try {
            if (!fill(rr, type, *result)) rr->herrno = TRY_AGAIN;  // out of memory
        } catch (...) {
            rr->herrno = TRY_AGAIN;
        }
        // Records of another type only (cannot happen with our resolver): no data.
        if (rr->herrno == NETDB_SUCCESS && rr->num_rr == 0) rr->herrno = NO_DATA;
    }
    return rr;
}

SpfOutcome Evaluator::Impl::evaluate(const IpAddress& client_in, std::string_view helo,
                                     std::string_view sender, const BlockingLookup& lookup) {
    SpfOutcome out;
    const auto identity = spf_identity(sender, helo);
    if (!identity) {
        out.result = SpfResult::none;
        out.explanation = "nothing to check: null sender and no HELO domain";
        return out;
    }
    out.domain = identity->domain;
    out.helo_identity = identity->helo;

    const std::unique_ptr<SPF_request_t, RequestFree> request(SPF_request_new(server_));
    if (!request) throw std::bad_alloc();
    const IpAddress client = client_in.unmapped();
    if (client.family == Family::v4) {
        in_addr a{};
        std::memcpy(&a, client.bytes.data(), sizeof a);
        SPF_request_set_ipv4(request.get(), a);
    } else {
        in6_addr a{};
        std::memcpy(&a, client.bytes.data(), sizeof a);
        SPF_request_set_ipv6(request.get(), a);
    }
    if (!helo.empty()) {
        // Copies, and sets the sender to postmaster@HELO if none is set yet; the sender
        // is set right after anyway.
        if (SPF_request_set_helo_dom(request.get(), std::string(helo).c_str()) != SPF_E_SUCCESS) {
            throw std::bad_alloc();
        }
    }
    if (SPF_request_set_env_from(request.get(), identity->mail_from.c_str()) != SPF_E_SUCCESS) {
        throw std::bad_alloc();
    }

    lookup_ = &lookup;
    stopped_ = false;
    lookups_ = 0;
    SPF_response_t* raw = nullptr;
    const SPF_errcode_t err = SPF_request_query_mailfrom(request.get(), &raw);
    const std::unique_ptr<SPF_response_t, ResponseFree> response(raw);
    lookup_ = nullptr;
    out.dns_lookups = lookups_;
    if (!response) throw std::bad_alloc();

    const SPF_result_t raw_result = SPF_response_result(response.get());
    out.result = spf_result_of(raw_result, err);
    out.explanation = text_or_empty(SPF_response_get_header_comment(response.get()));
    if (out.explanation.empty()) out.explanation = "domain of " + out.domain;
    // libspf2's own diagnostics ("Multiple SPF records for 'x'", compile errors)
    // say more than the comment for the error results.
    if (out.result == SpfResult::permerror || out.result == SpfResult::temperror) {
        const int n = SPF_response_messages(response.get());
        for (int i = 0; i < n && i < 4; ++i) {
            SPF_error_t* e = SPF_response_message(response.get(), i);
            const char* message = e != nullptr ? SPF_error_message(e) : nullptr;
            if (message != nullptr && *message != '\0') {
                out.explanation += "; ";
                out.explanation += message;
            }
        }
    }
    if (out.result == SpfResult::fail || out.result == SpfResult::softfail ||
        out.result == SpfResult::neutral) {
        out.exp = text_or_empty(SPF_response_get_explanation(response.get()));
    }
    out.received_spf = text_or_empty(SPF_response_get_received_spf_value(response.get()));

    if (stopped_) {
        // Some answer never came: whatever libspf2 concluded from the TRY_AGAIN (some
        // of its paths ignore it, e.g. the %{p} lookup) is not a verdict.
        out.result = SpfResult::temperror;
        out.explanation = "evaluation stopped before all DNS answers arrived; " + out.explanation;
        out.exp.clear();
    }
    if (stopped_ || raw_result == SPF_RESULT_INVALID || out.received_spf.empty()) {
        // libspf2's header does not hold our result (see spf_result_of and above): one in
        // the same format.
        out.received_spf = std::string(to_string(out.result)) + " (" + out.explanation +
                           ") client-ip=" + client.to_string() +
                           "; envelope-from=" + identity->mail_from + ";";
        if (!helo.empty()) out.received_spf += " helo=" + std::string(helo) + ";";
    }
    return out;
}

Evaluator::Evaluator(const std::string& local_hostname)
    : impl_(std::make_unique<Impl>(local_hostname)) {}
Evaluator::~Evaluator() = default;

SpfOutcome Evaluator::evaluate(const IpAddress& client, std::string_view helo,
                               std::string_view sender, const BlockingLookup& lookup) {
    return impl_->evaluate(client, helo, sender, lookup);
}

}  // namespace smtpwall::spf_detail
