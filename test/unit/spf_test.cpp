// SPF without a network: the pure rules, libspf2 driven through our DNS layer with a
// fake DNS (every record type, every failure kind) and the worker pool with a fake
// asynchronous lookup (deadline, queue bound, shutdown, late answers). The same
// policies against a real nsd are in test/integration/spf_integration_test.cpp.
#include <fmt/format.h>
#include <boost/test/unit_test.hpp>

#include <netdb.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "dnsbl/spf.hpp"
#include "dnsbl/spf_cache.hpp"
#include "dnsbl/spf_eval.hpp"

using namespace smtpwall;
using namespace smtpwall::spf_detail;
using namespace std::chrono_literals;
using dns::Result;
using dns::RType;
using dns::Status;

namespace {

IpAddress ip(const char* text) {
    const auto a = IpAddress::parse(text);
    BOOST_TEST_REQUIRE(a.has_value(), text);
    return *a;
}

Result ok_texts(std::vector<std::string> texts) {
    Result r;
    r.status = Status::ok;
    r.ttl = 300;
    r.texts = std::move(texts);
    return r;
}
Result ok_addrs(std::vector<const char*> addrs) {
    Result r;
    r.status = Status::ok;
    r.ttl = 300;
    for (const char* a : addrs) r.addresses.push_back(ip(a));
    return r;
}
Result ok_names(std::vector<std::string> names) {
    Result r;
    r.status = Status::ok;
    r.ttl = 300;
    r.names = std::move(names);
    return r;
}
Result status(Status s) {
    Result r;
    r.status = s;
    return r;
}

// name/type -> answer; anything else is NXDOMAIN. Records every question.
struct FakeDns {
    std::map<std::pair<std::string, RType>, Result> answers;
    std::vector<std::pair<std::string, RType>> asked;
    std::set<std::string> give_up;  // names whose lookup never completes in time

    void txt(const std::string& name, std::vector<std::string> t) {
        answers[{name, RType::TXT}] = ok_texts(std::move(t));
    }
    void a(const std::string& name, std::vector<const char*> addrs) {
        answers[{name, RType::A}] = ok_addrs(std::move(addrs));
    }
    void aaaa(const std::string& name, std::vector<const char*> addrs) {
        answers[{name, RType::AAAA}] = ok_addrs(std::move(addrs));
    }

    BlockingLookup fn() {
        return [this](const std::string& name, RType type) -> std::optional<Result> {
            asked.emplace_back(name, type);
            if (give_up.count(name) != 0) return std::nullopt;
            const auto it = answers.find({name, type});
            if (it != answers.end()) return it->second;
            // A name with any record: nodata for other types.
            for (const auto& [key, value] : answers) {
                if (key.first == name) return status(Status::nodata);
            }
            return status(Status::nxdomain);
        };
    }
};

struct Check {
    FakeDns dns;
    Evaluator eval{"mx.smtpwall.test"};

    SpfOutcome run(const char* client, const std::string& sender, const std::string& helo = "") {
        dns.asked.clear();
        return eval.evaluate(ip(client), helo, sender, dns.fn());
    }
};

std::string str(SpfResult r) {
    return std::string(to_string(r));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(spf_rules)

BOOST_AUTO_TEST_CASE(identity) {
    auto id = spf_identity("alice@example.org", "mx.example.net");
    BOOST_TEST_REQUIRE(id.has_value());
    BOOST_TEST(id->mail_from == "alice@example.org");
    BOOST_TEST(id->domain == "example.org");
    BOOST_TEST(!id->helo);
    // Null sender: postmaster@HELO (RFC 7208 §2.4).
    id = spf_identity("", "mx.example.net");
    BOOST_TEST_REQUIRE(id.has_value());
    BOOST_TEST(id->mail_from == "postmaster@mx.example.net");
    BOOST_TEST(id->domain == "mx.example.net");
    BOOST_TEST(id->helo);
    id = spf_identity("<>", "mx.example.net");
    BOOST_TEST_REQUIRE(id.has_value());
    BOOST_TEST(id->helo);
    BOOST_TEST(!spf_identity("", "").has_value());
    // Brackets tolerated; last '@' wins; empty or missing local part -> postmaster.
    BOOST_TEST(spf_identity("<bob@example.org>", "")->mail_from == "bob@example.org");
    BOOST_TEST(spf_identity("\"a@b\"@example.org", "")->domain == "example.org");
    BOOST_TEST(spf_identity("@example.org", "")->mail_from == "postmaster@example.org");
    BOOST_TEST(spf_identity("example.org", "")->mail_from == "postmaster@example.org");
    BOOST_TEST(!spf_identity("<>", "x@example.org").has_value());  // no domain to check
}

BOOST_AUTO_TEST_CASE(herrno_mapping) {
    BOOST_TEST(herrno_for(ok_texts({"x"})) == NETDB_SUCCESS);
    BOOST_TEST(herrno_for(status(Status::ok)) == NO_DATA);  // ok but empty
    BOOST_TEST(herrno_for(status(Status::nxdomain)) == HOST_NOT_FOUND);
    BOOST_TEST(herrno_for(status(Status::nodata)) == NO_DATA);
    // Every temporary failure is TRY_AGAIN (temperror), never NO_RECOVERY (permerror).
    for (const Status s : {Status::servfail, Status::refused, Status::timeout, Status::error}) {
        BOOST_TEST(herrno_for(status(s)) == TRY_AGAIN, dns::to_string(s));
    }
}

BOOST_AUTO_TEST_CASE(type_mapping) {
    BOOST_TEST((rtype_for(1) == RType::A));
    BOOST_TEST((rtype_for(28) == RType::AAAA));
    BOOST_TEST((rtype_for(15) == RType::MX));
    BOOST_TEST((rtype_for(16) == RType::TXT));
    BOOST_TEST((rtype_for(12) == RType::PTR));
    BOOST_TEST(!rtype_for(99).has_value());   // SPF RR type, retired
    BOOST_TEST(!rtype_for(255).has_value());  // ANY
}

BOOST_AUTO_TEST_CASE(libspf2_results) {
    // Numbers from libspf2 1.2.10's spf_response.h (SPF_RESULT_*, SPF_E_*), spelt out so
    // that this test needs no libspf2 headers.
    const int invalid = 0, neutral = 1, pass = 2, fail = 3, softfail = 4, none = 5, temperror = 6,
              permerror = 7;
    const int success = 0, no_memory = 1, syntax = 3, dns_error = 26;
    BOOST_TEST(str(spf_result_of(pass, success)) == "pass");
    BOOST_TEST(str(spf_result_of(fail, success)) == "fail");
    BOOST_TEST(str(spf_result_of(softfail, success)) == "softfail");
    BOOST_TEST(str(spf_result_of(neutral, success)) == "neutral");
    BOOST_TEST(str(spf_result_of(none, dns_error)) == "none");
    BOOST_TEST(str(spf_result_of(temperror, success)) == "temperror");
    BOOST_TEST(str(spf_result_of(permerror, dns_error)) == "permerror");
    // An unfinished response: a DNS failure is temporary, anything else a broken record.
    BOOST_TEST(str(spf_result_of(invalid, dns_error)) == "temperror");
    BOOST_TEST(str(spf_result_of(invalid, no_memory)) == "temperror");
    BOOST_TEST(str(spf_result_of(invalid, syntax)) == "permerror");
    BOOST_TEST(str(spf_result_of(8, success)) == "permerror");
    BOOST_TEST(str(spf_result_of(-1, dns_error)) == "permerror");
}

BOOST_AUTO_TEST_CASE(result_names) {
    BOOST_TEST(str(SpfResult::pass) == "pass");
    BOOST_TEST(str(SpfResult::softfail) == "softfail");
    BOOST_TEST(str(SpfResult::temperror) == "temperror");
    BOOST_TEST(str(SpfResult::permerror) == "permerror");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(spf_evaluator)

BOOST_AUTO_TEST_CASE(basic_results) {
    Check c;
    c.dns.txt("d.example", {"google-site-verification=x", "v=spf1 ip4:192.0.2.0/24 ~all"});
    auto o = c.run("192.0.2.7", "a@d.example");
    BOOST_TEST(str(o.result) == "pass");
    BOOST_TEST(o.domain == "d.example");
    BOOST_TEST(o.dns_lookups == 1);
    BOOST_TEST(o.explanation.find("designates 192.0.2.7 as permitted sender") != std::string::npos,
               o.explanation);
    BOOST_TEST(o.received_spf.rfind("pass (", 0) == 0, o.received_spf);
    o = c.run("198.51.100.7", "a@d.example");
    BOOST_TEST(str(o.result) == "softfail");
    BOOST_TEST(o.exp == "198.51.100.7 is not a permitted sender for d.example");
    // No record at all / nxdomain -> none; no SPF TXT -> none.
    BOOST_TEST(str(c.run("192.0.2.7", "a@nosuch.example").result) == "none");
    c.dns.txt("nospf.example", {"hello"});
    BOOST_TEST(str(c.run("192.0.2.7", "a@nospf.example").result) == "none");
    c.dns.txt("two.example", {"v=spf1 -all", "v=spf1 +all"});
    o = c.run("192.0.2.7", "a@two.example");
    BOOST_TEST(str(o.result) == "permerror");
    BOOST_TEST(o.explanation.find("Multiple SPF records") != std::string::npos, o.explanation);
    c.dns.txt("syntax.example", {"v=spf1 ip4:192.0.2.300 -all"});
    o = c.run("192.0.2.7", "a@syntax.example");
    BOOST_TEST(str(o.result) == "permerror");
    BOOST_TEST(o.explanation.find("Invalid IPv4 address literal") != std::string::npos,
               o.explanation);
}

BOOST_AUTO_TEST_CASE(every_record_type_reaches_libspf2) {
    Check c;
    c.dns.txt("mx.example", {"v=spf1 mx -all"});
    c.dns.answers[{"mx.example", RType::MX}] = ok_names({"m1.example", "m2.example"});
    c.dns.a("m2.example", {"192.0.2.9", "192.0.2.10"});
    c.dns.aaaa("m2.example", {"2001:db8::9"});
    BOOST_TEST(str(c.run("192.0.2.10", "x@mx.example").result) == "pass");
    BOOST_TEST(str(c.run("2001:db8::9", "x@mx.example").result) == "pass");
    BOOST_TEST(str(c.run("2001:db8::10", "x@mx.example").result) == "fail");
    // IPv4-mapped clients are IPv4 clients.
    BOOST_TEST(str(c.run("::ffff:192.0.2.10", "x@mx.example").result) == "pass");

    c.dns.txt("ptr.example", {"v=spf1 ptr -all"});
    c.dns.answers[{"7.2.0.192.in-addr.arpa", RType::PTR}] = ok_names({"h.ptr.example"});
    c.dns.a("h.ptr.example", {"192.0.2.7"});
    BOOST_TEST(str(c.run("192.0.2.7", "x@ptr.example").result) == "pass");
    BOOST_TEST(
        (c.dns.asked.at(1) == std::pair<std::string, RType>{"7.2.0.192.in-addr.arpa", RType::PTR}));

    c.dns.txt("exists.example", {"v=spf1 exists:%{i}.%{d} -all"});
    c.dns.a("192.0.2.7.exists.example", {"127.0.0.2"});
    BOOST_TEST(str(c.run("192.0.2.7", "x@exists.example").result) == "pass");
    BOOST_TEST(str(c.run("192.0.2.8", "x@exists.example").result) == "fail");
    // Only the types libspf2 needs were asked, never type SPF (99).
    for (const auto& [name, type] : c.dns.asked) {
        BOOST_TEST((type == RType::TXT || type == RType::A), name);
    }
}

BOOST_AUTO_TEST_CASE(temporary_failures_are_temperror) {
    for (const Status s : {Status::servfail, Status::refused, Status::timeout, Status::error}) {
        Check c;
        c.dns.txt("inc.example", {"v=spf1 include:other.example -all"});
        c.dns.answers[{"other.example", RType::TXT}] = status(s);
        BOOST_TEST(str(c.run("192.0.2.7", "a@inc.example").result) == "temperror",
                   dns::to_string(s));
        c.dns.answers[{"top.example", RType::TXT}] = status(s);
        // The domain's own TXT: libspf2 1.2.10 leaves the result INVALID here; only its
        // error code says it was a DNS failure. Must be temperror, never permerror.
        const auto top = c.run("192.0.2.7", "a@top.example");
        BOOST_TEST(str(top.result) == "temperror",
                   dns::to_string(s) << ": " << str(top.result) << " " << top.explanation);
        BOOST_TEST(top.explanation ==
                   "domain of top.example; Temporary DNS failure for "
                   "'top.example'.");
        BOOST_TEST(top.received_spf.rfind("temperror (domain of top.example", 0) == 0,
                   top.received_spf);
        c.dns.txt("a.example", {"v=spf1 a:host.example -all"});
        c.dns.answers[{"host.example", RType::A}] = status(s);
        BOOST_TEST(str(c.run("192.0.2.7", "a@a.example").result) == "temperror", dns::to_string(s));
    }
}

BOOST_AUTO_TEST_CASE(giving_up_stops_the_evaluation) {
    Check c;
    // The lookup gives up on the include (deadline): libspf2 must see TRY_AGAIN for it
    // and for every later question, and the result is temperror with no more queries.
    c.dns.txt("d.example", {"v=spf1 include:slow.example a:x.example -all"});
    c.dns.give_up.insert("slow.example");
    auto o = c.run("192.0.2.7", "a@d.example");
    BOOST_TEST(str(o.result) == "temperror");
    BOOST_TEST(o.explanation.rfind("evaluation stopped", 0) == 0, o.explanation);
    BOOST_TEST(o.received_spf.rfind("temperror (evaluation stopped", 0) == 0, o.received_spf);
    BOOST_TEST(c.dns.asked.size() == 2u);
    // Even where libspf2 ignores TRY_AGAIN (the PTR for %{p} in an explanation), a
    // fail that depended on an unanswered question is not reported as fail.
    c.dns.txt("p.example", {"v=spf1 -all exp=e.example"});
    c.dns.txt("e.example", {"%{p} is not allowed"});
    c.dns.give_up.insert("7.2.0.192.in-addr.arpa");
    o = c.run("192.0.2.7", "a@p.example");
    BOOST_TEST(str(o.result) == "temperror");
    BOOST_TEST(o.exp.empty());
    // The next evaluation on the same Evaluator starts afresh.
    c.dns.give_up.clear();
    BOOST_TEST(str(c.run("192.0.2.7", "a@p.example").result) == "fail");
}

BOOST_AUTO_TEST_CASE(unsendable_names_are_not_queried) {
    Check c;
    // %{l} puts a '+' and a space into the name: our resolver would refuse to send it,
    // so libspf2 hears "no such host" (RFC 7208 §4.3 spirit) without a query.
    c.dns.txt("lp.example", {"v=spf1 exists:%{l}.users.lp.example -all"});
    const auto o = c.run("192.0.2.7", "a+b c@lp.example");
    BOOST_TEST(str(o.result) == "fail");
    for (const auto& [name, type] : c.dns.asked) BOOST_TEST(name == "lp.example");
    // A HELO that is an address literal has no policy: none, nothing sent.
    BOOST_TEST(str(c.run("192.0.2.7", "", "[192.0.2.7]").result) == "none");
    BOOST_TEST(c.dns.asked.empty());
    // Nor has a HELO with an '@': libspf2 would judge the domain after it instead
    // (postmaster@x@d.example), a verdict about a name the client did not give.
    c.dns.txt("d.example", {"v=spf1 -all"});
    const auto at = c.run("192.0.2.7", "", "x@d.example");
    BOOST_TEST(str(at.result) == "none");
    BOOST_TEST(at.domain.empty());
    BOOST_TEST(c.dns.asked.empty());
}

BOOST_AUTO_TEST_CASE(null_sender_and_loopback) {
    Check c;
    c.dns.txt("helo.example", {"v=spf1 ip4:192.0.2.7 -all"});
    auto o = c.run("192.0.2.7", "", "helo.example");
    BOOST_TEST(str(o.result) == "pass");
    BOOST_TEST(o.domain == "helo.example");
    BOOST_TEST(o.helo_identity);
    BOOST_TEST(o.received_spf.find("envelope-from=postmaster@helo.example") != std::string::npos,
               o.received_spf);
    o = c.run("192.0.2.8", "", "");
    BOOST_TEST(str(o.result) == "none");
    BOOST_TEST(o.domain.empty());
    // libspf2 passes loopback clients without asking DNS.
    o = c.run("127.0.0.1", "a@helo.example");
    BOOST_TEST(str(o.result) == "pass");
    BOOST_TEST(o.dns_lookups == 0);
}

// Records come from the sender's DNS and libspf2 abort()s on its internal assertion
// failures: random records built from SPF tokens (odd macros, CIDRs, modifiers) must
// all come back with a result. Fixed seed; a longer run found nothing either.
BOOST_AUTO_TEST_CASE(random_records_never_crash) {
    std::mt19937 rng(20240531);
    const std::vector<std::string> tokens = {
        "a",         "mx",     "ptr",      "ip4:",  "ip6:",      "include:",  "exists:",
        "redirect=", "exp=",   "all",      "-",     "+",         "~",         "?",
        "/",         "//",     "24",       "64",    "0",         "33",        "129",
        "%{i}",      "%{ir}",  "%{l1r-}",  "%{d2}", "%{p}",      "%{s}",      "%{h}",
        "%{v}",      "%{c}",   "%{r}",     "%{t}",  "%%",        "%_",        "%-",
        "%{",        "}",      "%{x}",     "%{i0}", "%{l-+.}",   "x.example", "d.example",
        ".",         "..",     ":",        "=",     "192.0.2.1", "::1",       "2001:db8::",
        " ",         "v=spf1", "unknown=", "%{o}",  "%{d}"};
    const auto pick = [&] { return tokens[rng() % tokens.size()]; };
    Evaluator eval("mx.example");
    std::array<int, spf_result_count> seen{};
    for (int i = 0; i < 3000; ++i) {
        std::string record = "v=spf1 ";
        const int n = 1 + static_cast<int>(rng() % 12);
        for (int j = 0; j < n; ++j) record += (rng() % 3 == 0 ? " " : "") + pick();
        const BlockingLookup lookup = [&](const std::string& name,
                                          RType type) -> std::optional<Result> {
            if (rng() % 10 == 0) return status(Status::nxdomain);
            switch (type) {
                case RType::TXT:
                    return ok_texts({name == "d.example" ? record : pick() + pick() + pick()});
                case RType::A:
                    return ok_addrs({"192.0.2.1"});
                case RType::AAAA:
                    return ok_addrs({"2001:db8::1"});
                case RType::MX:
                    return ok_names({"x.example", "d.example"});
                default:
                    return ok_names({"x.example"});
            }
        };
        const auto client =
            i % 2 == 0 ? IpAddress::parse("192.0.2.1") : IpAddress::parse("2001:db8::1");
        const auto o =
            eval.evaluate(*client, "h.example", i % 5 == 0 ? "" : "a.b@d.example", lookup);
        ++seen.at(static_cast<std::size_t>(o.result));
    }
    // Every kind of outcome occurred, so the records reached the interpreter.
    for (const auto r :
         {SpfResult::pass, SpfResult::neutral, SpfResult::none, SpfResult::permerror}) {
        BOOST_TEST(seen.at(static_cast<std::size_t>(r)) > 0, str(r));
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------
// The worker pool, with a fake asynchronous DNS that answers from its own thread.

namespace {

class AsyncDns {
  public:
    AsyncDns() : thread_([this] { run(); }) {}
    ~AsyncDns() {
        {
            const std::lock_guard lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

    // Answers `name` after `delay` (default: at once); names in `never` are answered
    // only at destruction (with Status::error), like a dropped query.
    void set(const std::string& name, Result r, std::chrono::milliseconds delay = 0ms) {
        const std::lock_guard lock(m_);
        answers_[name] = {std::move(r), delay};
    }
    void never(const std::string& name) {
        const std::lock_guard lock(m_);
        never_.insert(name);
    }
    int calls() const { return calls_; }
    std::thread::id thread_id() const { return thread_.get_id(); }

    SpfChecker::AsyncLookup fn() {
        return [this](std::string name, RType, std::function<void(const Result&)> done) {
            ++calls_;
            const std::lock_guard lock(m_);
            const auto it = answers_.find(name);
            Item item;
            item.done = std::move(done);
            if (never_.count(name) != 0) {
                item.due = std::chrono::steady_clock::time_point::max();
                item.result = status(Status::error);
            } else if (it != answers_.end()) {
                item.due = std::chrono::steady_clock::now() + it->second.second;
                item.result = it->second.first;
            } else {
                item.due = std::chrono::steady_clock::now();
                item.result = status(Status::nxdomain);
            }
            pending_.push_back(std::move(item));
            cv_.notify_all();
        };
    }

  private:
    struct Item {
        std::chrono::steady_clock::time_point due;
        Result result;
        std::function<void(const Result&)> done;
    };

    void run() {
        using Clock = std::chrono::steady_clock;
        std::unique_lock lock(m_);
        for (;;) {
            // At destruction everything left is answered, dropped queries included.
            if (stop_) {
                for (auto& item : pending_) item.due = Clock::time_point::min();
            }
            const auto now = Clock::now();
            const auto due = std::find_if(pending_.begin(), pending_.end(),
                                          [&](const Item& i) { return i.due <= now; });
            if (due != pending_.end()) {
                Item item = std::move(*due);
                pending_.erase(due);
                lock.unlock();
                item.done(item.result);
                lock.lock();
                continue;
            }
            if (stop_) return;
            auto next = Clock::time_point::max();
            for (const auto& item : pending_) next = std::min(next, item.due);
            if (next == Clock::time_point::max()) {
                cv_.wait(lock);
            } else {
                cv_.wait_until(lock, next);
            }
        }
    }

    std::mutex m_;
    std::condition_variable cv_;
    std::map<std::string, std::pair<Result, std::chrono::milliseconds>> answers_;
    std::set<std::string> never_;
    std::vector<Item> pending_;
    std::atomic<int> calls_{0};
    bool stop_ = false;
    std::thread thread_;
};

// Collects outcomes delivered to done callbacks.
struct Outcomes {
    std::mutex m;
    std::condition_variable cv;
    std::vector<SpfOutcome> got;
    std::vector<std::thread::id> threads;

    SpfChecker::Done add() {
        return [this](SpfOutcome o) {
            const std::lock_guard lock(m);
            got.push_back(std::move(o));
            threads.push_back(std::this_thread::get_id());
            cv.notify_all();
        };
    }
    bool wait(std::size_t n, std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(m);
        return cv.wait_for(lock, limit, [&] { return got.size() >= n; });
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(spf_checker)

BOOST_AUTO_TEST_CASE(outcomes_arrive_on_worker_threads) {
    AsyncDns dns;
    dns.set("d.example", ok_texts({"v=spf1 ip4:192.0.2.0/24 -all"}), 5ms);
    Outcomes out;
    {
        SpfChecker checker(dns.fn(), SpfConfig{});
        for (int i = 0; i < 50; ++i) {
            const auto client = i % 2 == 0 ? "192.0.2.1" : "198.51.100.1";
            BOOST_TEST(checker.check(ip(client), "helo.example", "a@d.example", out.add()));
        }
        BOOST_TEST_REQUIRE(out.wait(50));
        const auto s = checker.stats();
        BOOST_TEST(s.accepted == 50u);
        BOOST_TEST(s.completed == 50u);
        BOOST_TEST(s.by_result[static_cast<std::size_t>(SpfResult::pass)] == 25u);
        BOOST_TEST(s.by_result[static_cast<std::size_t>(SpfResult::fail)] == 25u);
    }
    for (const auto& id : out.threads) {
        BOOST_TEST((id != std::this_thread::get_id()));
        BOOST_TEST((id != dns.thread_id()));
    }
}

BOOST_AUTO_TEST_CASE(deadline_bounds_a_check) {
    AsyncDns dns;
    dns.set("d.example", ok_texts({"v=spf1 include:dropped.example -all"}));
    dns.never("dropped.example");
    Outcomes out;
    SpfConfig config;
    config.deadline = 300ms;
    SpfChecker checker(dns.fn(), config);
    const auto start = std::chrono::steady_clock::now();
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h.example", "a@d.example", out.add()));
    BOOST_TEST_REQUIRE(out.wait(1, 5s));
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(str(out.got[0].result) == "temperror");
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    BOOST_TEST(ms >= 300);
    BOOST_TEST(ms < 600);
    BOOST_TEST(out.got[0].explanation.find("deadline of 300 ms exceeded") != std::string::npos,
               out.got[0].explanation);
    BOOST_TEST(checker.stats().deadline_exceeded == 1u);
}

BOOST_AUTO_TEST_CASE(late_answers_do_not_leak_into_the_next_question) {
    AsyncDns dns;
    // The first question is answered after the deadline, with a record that would pass
    // anything; the worker has moved on by then.
    dns.set("late.example", ok_texts({"v=spf1 +all"}), 400ms);
    dns.set("d.example", ok_texts({"v=spf1 -all"}), 100ms);
    Outcomes out;
    SpfConfig config;
    config.workers = 1;
    config.deadline = 200ms;
    SpfChecker checker(dns.fn(), config);
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h", "a@late.example", out.add()));
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h", "a@d.example", out.add()));
    BOOST_TEST_REQUIRE(out.wait(2));
    BOOST_TEST(str(out.got[0].result) == "temperror");
    // Queued behind the first for 200 ms, then 100 ms of its own: past its deadline too
    // (counted from check()). What matters: never "pass" from the late answer.
    BOOST_TEST(str(out.got[1].result) != "pass");
    BOOST_TEST_REQUIRE(out.wait(2));
    std::this_thread::sleep_for(300ms);  // the late answer arrives now
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h", "a@d.example", out.add()));
    BOOST_TEST_REQUIRE(out.wait(3));
    BOOST_TEST(str(out.got[2].result) == "fail");
}

BOOST_AUTO_TEST_CASE(bounded_queue_refuses_without_calling_done) {
    AsyncDns dns;
    dns.set("slow.example", ok_texts({"v=spf1 -all"}), 300ms);
    Outcomes out;
    SpfConfig config;
    config.workers = 1;
    config.max_queue = 2;
    SpfChecker checker(dns.fn(), config);
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h", "a@slow.example", out.add()));
    // Wait until the worker holds the first check (its lookup is out).
    for (int i = 0; i < 200 && dns.calls() == 0; ++i) std::this_thread::sleep_for(1ms);
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h", "a@slow.example", out.add()));
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h", "a@slow.example", out.add()));
    int refused_calls = 0;
    BOOST_TEST(!checker.check(ip("192.0.2.1"), "h", "a@slow.example",
                              [&](SpfOutcome) { ++refused_calls; }));
    BOOST_TEST(checker.stats().refused == 1u);
    BOOST_TEST(checker.stats().queued == 2u);
    BOOST_TEST_REQUIRE(out.wait(3));
    BOOST_TEST(refused_calls == 0);
}

BOOST_AUTO_TEST_CASE(destruction_completes_every_accepted_check) {
    AsyncDns dns;
    dns.set("d.example", ok_texts({"v=spf1 include:dropped.example -all"}));
    dns.never("dropped.example");
    Outcomes out;
    const auto start = std::chrono::steady_clock::now();
    {
        SpfConfig config;
        config.workers = 2;
        config.deadline = 30s;
        SpfChecker checker(dns.fn(), config);
        for (int i = 0; i < 20; ++i) {
            BOOST_TEST(checker.check(ip("192.0.2.1"), "h", "a@d.example", out.add()));
        }
        std::this_thread::sleep_for(50ms);
    }
    // Not 30 s: in-flight lookups are abandoned, queued checks answered at once.
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
    BOOST_TEST(out.got.size() == 20u);
    for (const auto& o : out.got) BOOST_TEST(str(o.result) == "temperror");
}

BOOST_AUTO_TEST_CASE(bad_config_is_rejected) {
    AsyncDns dns;
    SpfConfig c;
    c.workers = 0;
    BOOST_CHECK_THROW(SpfChecker(dns.fn(), c), std::invalid_argument);
    c = SpfConfig{};
    c.deadline = 0ms;
    BOOST_CHECK_THROW(SpfChecker(dns.fn(), c), std::invalid_argument);
    c = SpfConfig{};
    c.max_queue = 0;
    BOOST_CHECK_THROW(SpfChecker(dns.fn(), c), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(many_callers_at_once) {
    AsyncDns dns;
    dns.set("d.example", ok_texts({"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"}), 1ms);
    Outcomes out;
    SpfConfig config;
    config.max_queue = 10000;
    config.client_queue = 10000;
    SpfChecker checker(dns.fn(), config);
    std::vector<std::thread> callers;
    std::atomic<int> accepted{0};
    // Parsed here: Boost.Test assertions (inside ip()) are not thread-safe.
    const IpAddress inside = ip("2001:db8::5"), outside = ip("203.0.113.5");
    for (int t = 0; t < 4; ++t) {
        callers.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                const IpAddress& client = (i + t) % 2 == 0 ? inside : outside;
                if (checker.check(client, "h", "x@d.example", out.add())) ++accepted;
            }
        });
    }
    for (auto& c : callers) c.join();
    BOOST_TEST(accepted == 400);
    BOOST_TEST_REQUIRE(out.wait(400));
    int pass = 0;
    for (const auto& o : out.got) pass += o.result == SpfResult::pass ? 1 : 0;
    BOOST_TEST(pass == 200);
}

// A client whose sender domain's DNS never answers holds at most client_workers workers:
// the others' checks go on at once, and its own surplus is refused (its own temperror).
BOOST_AUTO_TEST_CASE(a_slow_client_slows_only_itself) {
    AsyncDns dns;
    dns.set("slow.example", ok_texts({"v=spf1 include:dropped.example -all"}));
    dns.never("dropped.example");
    dns.set("fast.example", ok_texts({"v=spf1 ip4:198.51.100.0/24 -all"}));
    Outcomes slow, fast;
    SpfConfig config;
    config.workers = 4;
    config.client_workers = 2;
    config.client_queue = 50;
    config.deadline = 30s;  // the slow client's checks hold their workers throughout
    SpfChecker checker(dns.fn(), config);
    int accepted = 0;
    for (int i = 0; i < 200; ++i)
        accepted += checker.check(ip("203.0.113.9"), "h", "a@slow.example", slow.add()) ? 1 : 0;
    // Fifty waiting, and up to two more the workers took before the queue was full.
    BOOST_TEST(accepted >= 50);
    BOOST_TEST(accepted <= 52);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i)
        BOOST_TEST(checker.check(ip(fmt::format("198.51.100.{}", i + 1).c_str()), "h",
                                 "b@fast.example", fast.add()));
    // Served by the two workers the slow client cannot take: long before its deadline.
    BOOST_TEST_REQUIRE(fast.wait(50, 15s));
    BOOST_TEST((std::chrono::steady_clock::now() - start < 15s));
    for (const auto& o : fast.got) BOOST_TEST(str(o.result) == "pass");
    BOOST_TEST(slow.got.empty());  // still waiting on its own dropped queries
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(spf_result_cache)

SpfOutcome outcome(SpfResult r, std::string domain = "d.example") {
    SpfOutcome o;
    o.result = r;
    o.domain = std::move(domain);
    return o;
}

BOOST_AUTO_TEST_CASE(the_key_is_what_an_outcome_depends_on) {
    const auto k = SpfResultCache::key(ip("192.0.2.1"), "Helo.Example", "a@d.example");
    BOOST_TEST(k == SpfResultCache::key(ip("::ffff:192.0.2.1"), "helo.example", "a@d.example"));
    BOOST_TEST(k != SpfResultCache::key(ip("192.0.2.2"), "helo.example", "a@d.example"));
    BOOST_TEST(k != SpfResultCache::key(ip("192.0.2.1"), "other.example", "a@d.example"));
    BOOST_TEST(k != SpfResultCache::key(ip("192.0.2.1"), "helo.example", "b@d.example"));  // %{l}
    BOOST_TEST(k != SpfResultCache::key(ip("192.0.2.1"), "helo.example", ""));
    // No field can pose as another.
    BOOST_TEST(SpfResultCache::key(ip("192.0.2.1"), "a", "b\nc") !=
               SpfResultCache::key(ip("192.0.2.1"), "a\nb", "c"));
}

BOOST_AUTO_TEST_CASE(only_final_outcomes_from_dns_are_kept) {
    for (const auto r : {SpfResult::pass, SpfResult::fail, SpfResult::softfail, SpfResult::neutral,
                         SpfResult::none, SpfResult::permerror})
        BOOST_TEST(SpfResultCache::keepable(outcome(r), true, true));
    BOOST_TEST(!SpfResultCache::keepable(outcome(SpfResult::temperror), true, true));
    BOOST_TEST(!SpfResultCache::keepable(outcome(SpfResult::pass), false, true));  // gave up
    BOOST_TEST(!SpfResultCache::keepable(outcome(SpfResult::pass), true, false));  // no DNS used
}

BOOST_AUTO_TEST_CASE(kept_for_the_ttl_then_gone) {
    SpfResultCache cache(10);
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    cache.store("k", outcome(SpfResult::fail), 30s, t0);
    cache.store("zero", outcome(SpfResult::pass), 0s, t0);
    BOOST_TEST(cache.size() == 1u);
    BOOST_TEST((cache.find("k", t0 + 29s)->result == SpfResult::fail));
    BOOST_TEST(!cache.find("k", t0 + 30s));
    BOOST_TEST(cache.size() == 0u);  // an expired entry is dropped when met
    BOOST_TEST(!cache.find("zero", t0));
    // Stored again: the newer outcome and expiry replace the old ones.
    cache.store("k", outcome(SpfResult::fail), 30s, t0);
    cache.store("k", outcome(SpfResult::pass), 5s, t0 + 1s);
    BOOST_TEST(cache.size() == 1u);
    BOOST_TEST((cache.find("k", t0 + 5s)->result == SpfResult::pass));
    BOOST_TEST(!cache.find("k", t0 + 6s));
}

BOOST_AUTO_TEST_CASE(bounded_least_recently_used_first_out) {
    SpfResultCache cache(3);
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    for (const char* k : {"a", "b", "c"}) cache.store(k, outcome(SpfResult::pass, k), 60s, t0);
    BOOST_TEST(cache.find("a", t0).has_value());  // a is now the most recent
    cache.store("d", outcome(SpfResult::pass), 60s, t0);
    BOOST_TEST(cache.size() == 3u);
    BOOST_TEST(!cache.find("b", t0));  // the least recently used went
    BOOST_TEST(cache.find("a", t0).has_value());
    BOOST_TEST(cache.find("c", t0).has_value());
    BOOST_TEST(cache.find("d", t0).has_value());
    SpfResultCache none(0);
    none.store("a", outcome(SpfResult::pass), 60s, t0);
    BOOST_TEST(none.size() == 0u);
}

BOOST_AUTO_TEST_CASE(the_checker_knows_a_finished_outcome_until_its_answers_expire) {
    AsyncDns dns;
    dns.set("d.example", ok_texts({"v=spf1 include:short.example -all"}));
    auto short_lived = ok_texts({"v=spf1 ip4:192.0.2.0/24 -all"});
    short_lived.ttl = 1;  // the include's answer expires first, and with it the outcome
    dns.set("short.example", short_lived);
    dns.set("gone.example", status(Status::servfail));
    Outcomes out;
    SpfChecker checker(dns.fn(), SpfConfig{});
    BOOST_TEST(!checker.cached(ip("192.0.2.1"), "h.example", "a@d.example"));
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h.example", "a@d.example", out.add()));
    BOOST_TEST(checker.check(ip("192.0.2.1"), "h.example", "a@gone.example", out.add()));
    BOOST_TEST_REQUIRE(out.wait(2));
    const auto hit = checker.cached(ip("192.0.2.1"), "H.example", "a@d.example");
    BOOST_TEST_REQUIRE(hit.has_value());
    BOOST_TEST((hit->result == SpfResult::pass));
    BOOST_TEST(hit->domain == "d.example");
    BOOST_TEST(!checker.cached(ip("192.0.2.2"), "h.example", "a@d.example"));     // another client
    BOOST_TEST(!checker.cached(ip("192.0.2.1"), "h.example", "a@gone.example"));  // temperror
    BOOST_TEST(checker.stats().cache_hits == 1u);
    std::this_thread::sleep_for(1100ms);
    BOOST_TEST(!checker.cached(ip("192.0.2.1"), "h.example", "a@d.example"));
}

// A new client of a sender domain whose records are all cached: evaluated at once in
// the caller's thread, with the worker's outcome, and kept like a worker's.
BOOST_AUTO_TEST_CASE(a_check_with_every_answer_cached_is_evaluated_at_once) {
    AsyncDns dns;  // the worker's DNS: must not be asked
    std::map<std::string, Result> cache;
    cache["d.example"] = ok_texts({"v=spf1 include:inc.example -all"});
    cache["inc.example"] = ok_texts({"v=spf1 ip4:192.0.2.0/24 ~all"});
    std::mutex cache_mutex;
    int asked = 0;
    const SpfChecker::CachedLookup cached = [&](const std::string& name, RType type) {
        const std::lock_guard lock(cache_mutex);
        ++asked;
        const auto it = cache.find(name);
        return type == RType::TXT && it != cache.end() ? std::optional<Result>(it->second)
                                                       : std::nullopt;
    };
    SpfChecker checker(dns.fn(), SpfConfig{}, cached);
    const auto pass = checker.cached(ip("192.0.2.7"), "h.example", "a@d.example");
    BOOST_TEST_REQUIRE(pass.has_value());
    BOOST_TEST((pass->result == SpfResult::pass));
    BOOST_TEST(pass->domain == "d.example");
    const auto outside = checker.cached(ip("198.51.100.7"), "h.example", "a@d.example");
    BOOST_TEST_REQUIRE(outside.has_value());
    BOOST_TEST((outside->result == SpfResult::fail));  // the include did not match: -all
    BOOST_TEST(dns.calls() == 0);
    auto stats = checker.stats();
    BOOST_TEST(stats.evaluated_at_once == 2u);
    BOOST_TEST(stats.accepted == 0u);  // no worker
    BOOST_TEST(stats.completed == 2u);
    // Kept like a worker's outcome: asked again, DNS is not consulted.
    const int before = asked;
    BOOST_TEST(checker.cached(ip("192.0.2.7"), "h.example", "a@d.example").has_value());
    BOOST_TEST(asked == before);
    BOOST_TEST(checker.stats().cache_hits == 1u);

    // One answer missing: nothing at once, nothing kept; the worker then asks DNS and
    // finds the same outcome a later evaluation at once gives.
    cache.erase("inc.example");
    BOOST_TEST(!checker.cached(ip("192.0.2.8"), "h.example", "a@d.example"));
    BOOST_TEST(checker.stats().evaluated_at_once == 2u);
    dns.set("d.example", ok_texts({"v=spf1 include:inc.example -all"}));
    dns.set("inc.example", ok_texts({"v=spf1 ip4:192.0.2.0/24 ~all"}));
    Outcomes out;
    BOOST_TEST(checker.check(ip("192.0.2.8"), "h.example", "a@d.example", out.add()));
    BOOST_TEST_REQUIRE(out.wait(1));
    BOOST_TEST((out.got[0].result == SpfResult::pass));
    BOOST_TEST(dns.calls() == 2);

    // A cached temporary failure gives temperror at once, as a worker would, and is
    // not kept.
    cache["inc.example"] = status(Status::servfail);
    const auto temp = checker.cached(ip("192.0.2.9"), "h.example", "a@d.example");
    BOOST_TEST_REQUIRE(temp.has_value());
    BOOST_TEST((temp->result == SpfResult::temperror));
    cache.erase("inc.example");
    BOOST_TEST(!checker.cached(ip("192.0.2.9"), "h.example", "a@d.example"));
}

// A record asking more than 10 questions is left to the workers, whose queues keep
// each client's share fair: at once, at most 10 answers are read.
BOOST_AUTO_TEST_CASE(a_check_asking_much_is_not_evaluated_at_once) {
    AsyncDns dns;
    std::map<std::string, Result> cache;
    std::string nine = "v=spf1", ten = "v=spf1";
    for (int i = 1; i <= 10; ++i) {
        const std::string host = fmt::format("h{}.example", i);
        cache[host] = ok_addrs({"198.51.100.1"});
        if (i <= 9) nine += " a:" + host;
        ten += " a:" + host;
    }
    cache["nine.example"] = ok_texts({nine + " -all"});
    cache["ten.example"] = ok_texts({ten + " -all"});
    int asked = 0;
    const SpfChecker::CachedLookup cached = [&](const std::string& name, RType) {
        ++asked;
        const auto it = cache.find(name);
        return it != cache.end() ? std::optional<Result>(it->second) : std::nullopt;
    };
    SpfChecker checker(dns.fn(), SpfConfig{}, cached);
    const auto nine_asked = checker.cached(ip("192.0.2.1"), "h.example", "a@nine.example");
    BOOST_TEST_REQUIRE(nine_asked.has_value());  // the record and its 9 names: 10 answers
    BOOST_TEST((nine_asked->result == SpfResult::fail));
    BOOST_TEST(asked == 10);
    asked = 0;
    BOOST_TEST(!checker.cached(ip("192.0.2.1"), "h.example", "a@ten.example"));
    BOOST_TEST(asked == 10);  // the 11th question was not even asked
    BOOST_TEST(checker.stats().evaluated_at_once == 1u);
}

// Many callers at once: each gets the outcome, from its own evaluator or, past the
// cap, nothing (then it would go to a worker); never a wrong one.
BOOST_AUTO_TEST_CASE(evaluations_at_once_from_many_threads) {
    AsyncDns dns;
    const SpfChecker::CachedLookup cached = [](const std::string& name, RType type) {
        if (type == RType::TXT && name == "d.example")
            return std::optional<Result>(ok_texts({"v=spf1 ip4:192.0.2.0/24 -all"}));
        return std::optional<Result>();
    };
    SpfChecker checker(dns.fn(), SpfConfig{}, cached);
    std::atomic<int> right{0}, wrong{0}, none{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 24; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                const bool inside = (i + t) % 2 == 0;
                const auto client = ip(inside ? "192.0.2.5" : "198.51.100.5");
                // A sender of its own each time: no earlier outcome to find.
                const auto o =
                    checker.cached(client, "h.example", fmt::format("u{}x{}@d.example", t, i));
                if (!o)
                    ++none;
                else if ((o->result == SpfResult::pass) == inside)
                    ++right;
                else
                    ++wrong;
            }
        });
    for (auto& th : threads) th.join();
    BOOST_TEST(wrong.load() == 0);
    BOOST_TEST(right.load() + none.load() == 24 * 200);
    BOOST_TEST(right.load() > 0);
    BOOST_TEST(dns.calls() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
