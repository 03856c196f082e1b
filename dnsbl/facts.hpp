// What DNS said about one SMTP session: PTR and forward confirmation, DNSBL/DNSWL
// listings, whether the HELO name resolves, the SPF result. Plain values; the
// lookups that fill them live in dnsbl/lookups.hpp, the judgement in core/classify.hpp.
// Anything still pending when the session's deadline passed counts as a temporary
// failure: it can delay mail, never reject it.
#pragma once

#include <string>
#include <vector>

#include "common/net.hpp"
#include "dnsbl/spf_result.hpp"
#include "dnsbl/zones.hpp"

namespace smtpwall::dns {

enum class Progress { not_started, pending, done };

struct PtrFacts {
    enum class Outcome { confirmed, unconfirmed, no_ptr, temp_error };
    Progress progress = Progress::not_started;
    Outcome outcome = Outcome::temp_error;
    std::vector<std::string> names;  // PTR names (at most a few)
    std::string confirmed_name;      // the first that resolves back to the client
};

struct ZoneFact {
    std::string tag;
    std::string zone;
    int weight = 0;
    Progress progress = Progress::not_started;
    ZoneVerdict verdict = ZoneVerdict::failed;
    std::vector<IpAddress> codes;
    std::string txt;       // of a listing, when fetched in time
    std::string why;       // failed/refused/skipped: for the log
    bool skipped = false;  // suspended or dead zone: not asked
};

// A listing's answer codes as text ("127.0.0.2").
std::vector<std::string> code_texts(const ZoneFact& zone);

struct HeloFacts {
    enum class Outcome { resolves, does_not_resolve, temp_error };
    Progress progress = Progress::not_started;
    Outcome outcome = Outcome::temp_error;
    std::vector<IpAddress> addresses;  // A/AAAA of the HELO name
    bool has_mx = false;
};

using smtpwall::SpfResult;

struct SpfFacts {
    Progress progress = Progress::not_started;
    SpfResult result = SpfResult::none;
    std::string domain;
    std::string explanation;
};

struct DnsFacts {
    PtrFacts ptr;
    std::vector<ZoneFact> zones;
    HeloFacts helo;
    SpfFacts spf;
    bool deadline_passed = false;  // something was still pending when the verdict was needed
    bool unfinished = false;       // lookups still running (a wait that had enough returned)
};

}  // namespace smtpwall::dns
