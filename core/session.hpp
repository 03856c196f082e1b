// One SMTP session as the milter sees it. The libmilter callbacks hand it facts
// (client, HELO, sender, recipients) and send back the verdict it returns. Pure:
// no I/O, no clock, no locking; one session belongs to one MTA connection.
//
// Decisions are made before DATA and delivered at RCPT, so exempt recipients
// (postmaster@, abuse@) still work and the MTA logs sender and recipient.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/embedded_v4.hpp"
#include "common/net.hpp"
#include "conf/milter_config.hpp"
#include "core/classify.hpp"
#include "core/helo_check.hpp"
#include "core/recipients.hpp"
#include "dnsbl/facts.hpp"

namespace smtpwall {

// Tag names of the checks in this file.
inline constexpr std::string_view kTagBadHelo = "bad-helo";
inline constexpr std::string_view kTagSpamtrap = "spamtrap";
inline constexpr std::string_view kTagBanned = "banned";
inline constexpr std::string_view kTagBadRcpt = "badrcpt";

// What the checks need from the configuration, prepared once per (re)load.
struct SessionPolicy {
    explicit SessionPolicy(const conf::MilterConfig& config);
    OwnIdentity own;
    AddressPatterns spamtraps;
    AddressPatterns exempt;
    CidrList allowlist;
    ScoringPolicy scoring;
    dns::DialupDetector dialup;
    RelayDomains relay_domains;  // [shared_relays]
    Ipv4Embedding embedding;     // [tally] nat64_prefixes, 6to4 and mapped
    // Delivered mail earns a client credit ([shared_relays] good_mail,
    // [escalation] good_mail_ratio): a message then counts only at its end, once the
    // MTA took it, so DATA must not settle it (an abandoned DATA earns nothing).
    bool credits_delivered_mail = true;
};

enum class Action { accept, reject, tempfail };

struct Verdict {
    Action action = Action::accept;
    std::string code;   // "550"
    std::string xcode;  // "5.7.1"
    std::string text;   // never reveals a trap or a private list
    std::vector<std::string> tags;
    // An accept nothing later in the message can undo (the client is exempt, or the
    // message passed DATA and delivered mail earns no credit): the MTA need not show
    // this message's later stages.
    bool settles_message = false;

    bool rejected() const { return action == Action::reject; }
};

enum class Stage { connect, helo, mail, rcpt, data };
std::string_view stage_name(Stage stage);

// What a session amounts to, for its log line.
struct SessionRecord {
    std::optional<IpAddress> client;  // as judged: the IPv4 a NAT64 or 6to4 address carries
    std::optional<IpAddress> peer;    // the address the connection came from, when different
    std::string client_name;
    std::string helo;
    std::string helo_problem;  // empty when the HELO was fine or absent
    std::string last_sender;
    std::set<std::string> tags;
    int score = 0;
    std::string ptr;     // the forward-confirmed PTR name, when DNS found one
    std::string listed;  // zones that list the client, "cbl,zen"
    std::optional<Stage> first_reject;
    bool tempfailed = false;
    unsigned accepted_rcpts = 0;
    unsigned rejected_rcpts = 0;
    unsigned mta_rejected_rcpts = 0;
    unsigned messages = 0;
    bool allowlisted = false;
    bool authenticated = false;
};

class Session {
  public:
    Session(std::shared_ptr<const SessionPolicy> policy, std::optional<IpAddress> client,
            std::string client_name);

    // Facts from the MTA's macros: its own name ({j}) and listening address ({daemon_addr}).
    void add_own_hostname(std::string_view name);
    void add_own_address(const IpAddress& addr);
    // The client is already banned (its packets should no longer reach us).
    void mark_banned();
    // Something failed inside smtpwall: the client was told to try again later.
    void mark_tempfailed() { record_.tempfailed = true; }

    void helo(std::string_view name);
    // The DNS facts gathered so far (the glue waits for them before a verdict).
    void set_dns(dns::DnsFacts facts);

    const std::optional<dns::DnsFacts>& dns() const { return dns_; }
    // The HELO checks found nothing: worth asking DNS about the name.
    bool helo_valid() const { return helo_problem_ == HeloProblem::none; }
    const Classification& classification();
    // Starts a transaction (whatever the previous one left behind is dropped).
    void mail_from(std::string_view sender, bool authenticated);
    Verdict recipient(std::string_view raw_recipient);
    // Whether `raw_recipient` would be accepted whatever the lookups still pending in
    // `facts` find, so that its verdict need not wait for them. Only an accept is given
    // early: a spamtrap, a condemned or banned session, or a verdict that could still
    // be a refusal waits for every fact (what is tallied and banned rests on them).
    bool accepts_whatever_comes(std::string_view raw_recipient, const dns::DnsFacts& facts) const;
    // The MTA rejected a recipient itself. Returns the tags to tally when the
    // rejection counts against the client (permanent, client not exempt).
    std::optional<std::vector<std::string>> mta_rejected_recipient(std::string_view rcpt_host,
                                                                   std::string_view rcpt_addr);
    Verdict data();
    // End of message: the DATA verdict when the MTA's protocol had no DATA stage
    // (Postfix's milter_protocol 2 and 3), else an accept.
    Verdict end_of_message();
    // Transaction over (end of message, RSET, abort): recipients start afresh.
    // Returns true when a message was accepted for at least one recipient.
    bool end_transaction(bool message_accepted);

    const SessionRecord& record() const { return record_; }
    // The client as judged (DNS, allowlist, HELO): the IPv4 a translated address carries.
    const std::optional<IpAddress>& client() const { return record_.client; }
    // The address the connection came from: what is tallied and banned.
    const std::optional<IpAddress>& peer() const {
        return record_.peer ? record_.peer : record_.client;
    }
    // Allowlisted, authenticated or DNSWL-listed: never rejected, never tallied.
    bool exempt_client();

  private:
    ClassifyInput classify_input(const dns::DnsFacts* facts) const;
    Verdict reject(Stage stage, std::string code, std::string xcode, std::string text,
                   std::vector<std::string> tags);

    std::shared_ptr<const SessionPolicy> policy_;
    SessionRecord record_;
    std::vector<std::string> own_hostnames_;
    std::vector<IpAddress> own_addresses_;
    HeloProblem helo_problem_ = HeloProblem::none;
    std::optional<dns::DnsFacts> dns_;
    std::optional<Classification> classification_;
    bool banned_ = false;
    bool trap_hit_ = false;  // the whole session is condemned once a trap is hit
    bool trap_in_message_ = false;
    unsigned accepted_in_message_ = 0;
    bool data_judged_ = false;  // data() ran in this transaction
};

}  // namespace smtpwall
