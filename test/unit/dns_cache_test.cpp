// The answer cache with injected time: TTL clamps, RFC 2308 negative caching,
// temporary failures, expiry and the LRU size bound.
#include <boost/test/unit_test.hpp>

#include "dnsbl/cache.hpp"

using namespace smtpwall;
using namespace smtpwall::dns;
using namespace std::chrono_literals;

namespace {

const Cache::Clock::time_point t0 = Cache::Clock::time_point{} + 1000h;

Result answer(Status status, std::uint32_t ttl, const char* addr = "192.0.2.1") {
    Result r;
    r.status = status;
    r.ttl = ttl;
    if (status == Status::ok) r.addresses.push_back(*IpAddress::parse(addr));
    return r;
}

CachePolicy policy(std::uint32_t min_ttl, std::uint32_t max_ttl, std::uint32_t max_negative_ttl,
                   std::uint32_t temp_failure_ttl = 5, std::size_t max_entries = 100) {
    CachePolicy p;
    p.min_ttl = min_ttl;
    p.max_ttl = max_ttl;
    p.max_negative_ttl = max_negative_ttl;
    p.temp_failure_ttl = temp_failure_ttl;
    p.max_entries = max_entries;
    return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dns_cache)

BOOST_AUTO_TEST_CASE(entries_expire_with_their_ttl) {
    Cache cache(CachePolicy{});
    BOOST_TEST(cache.put("host.example", RType::A, answer(Status::ok, 300), true, t0) == 300u);
    auto hit = cache.get("host.example", RType::A, t0);
    BOOST_TEST_REQUIRE(hit.has_value());
    BOOST_TEST(hit->from_cache);
    BOOST_TEST(hit->ttl == 300u);
    BOOST_TEST(hit->addresses.at(0).to_string() == "192.0.2.1");
    BOOST_TEST(cache.get("host.example", RType::A, t0 + 1500ms)->ttl == 299u);  // rounded up
    BOOST_TEST(cache.get("host.example", RType::A, t0 + 299s)->ttl == 1u);
    BOOST_TEST(!cache.get("host.example", RType::A, t0 + 300s));
    BOOST_TEST(cache.size() == 0u);  // expired entries go when seen
}

BOOST_AUTO_TEST_CASE(types_are_separate) {
    Cache cache(CachePolicy{});
    cache.put("host.example", RType::A, answer(Status::ok, 300), true, t0);
    BOOST_TEST(!cache.get("host.example", RType::AAAA, t0));
    BOOST_TEST(!cache.get("other.example", RType::A, t0));
}

BOOST_AUTO_TEST_CASE(ttls_are_clamped) {
    Cache cache(policy(60, 3600, 3600));
    BOOST_TEST(cache.effective_ttl(answer(Status::ok, 5), true) == 60u);
    BOOST_TEST(cache.put("short.example", RType::A, answer(Status::ok, 5), true, t0) == 60u);
    BOOST_TEST(cache.get("short.example", RType::A, t0 + 59s).has_value());
    BOOST_TEST(cache.put("zero.example", RType::A, answer(Status::ok, 0), true, t0) == 60u);
    BOOST_TEST(cache.put("long.example", RType::A, answer(Status::ok, 1000000), true, t0) == 3600u);
    BOOST_TEST(!cache.get("long.example", RType::A, t0 + 3600s));
}

BOOST_AUTO_TEST_CASE(negative_answers_have_their_own_cap) {
    Cache cache(policy(60, 86400, 900));
    BOOST_TEST(cache.put("nx.example", RType::A, answer(Status::nxdomain, 10800), true, t0) ==
               900u);
    auto hit = cache.get("nx.example", RType::A, t0 + 899s);
    BOOST_TEST_REQUIRE(hit.has_value());
    BOOST_TEST((hit->status == Status::nxdomain));
    BOOST_TEST(!cache.get("nx.example", RType::A, t0 + 900s));
    BOOST_TEST(cache.put("nodata.example", RType::AAAA, answer(Status::nodata, 30), true, t0) ==
               60u);
    // RFC 2308 §5: no SOA, no negative caching.
    BOOST_TEST(cache.put("nosoa.example", RType::A, answer(Status::nxdomain, 300), false, t0) ==
               0u);
    BOOST_TEST(!cache.get("nosoa.example", RType::A, t0));
}

BOOST_AUTO_TEST_CASE(temporary_failures_are_cached_briefly_or_not_at_all) {
    Cache brief(policy(60, 86400, 3600, 5));
    for (const Status s : {Status::servfail, Status::refused, Status::timeout, Status::error}) {
        BOOST_TEST(brief.put("fail.example", RType::A, answer(s, 86400), false, t0) == 5u);
        BOOST_TEST((brief.get("fail.example", RType::A, t0 + 4s)->status == s));
        BOOST_TEST(!brief.get("fail.example", RType::A, t0 + 5s));
    }
    Cache never(policy(60, 86400, 3600, 0));
    BOOST_TEST(never.put("fail.example", RType::A, answer(Status::servfail, 0), false, t0) == 0u);
    BOOST_TEST(!never.get("fail.example", RType::A, t0));
}

BOOST_AUTO_TEST_CASE(replacing_an_entry) {
    Cache cache(CachePolicy{});
    cache.put("host.example", RType::A, answer(Status::ok, 300, "192.0.2.1"), true, t0);
    cache.put("host.example", RType::A, answer(Status::ok, 600, "192.0.2.2"), true, t0 + 10s);
    BOOST_TEST(cache.size() == 1u);
    auto hit = cache.get("host.example", RType::A, t0 + 400s);
    BOOST_TEST_REQUIRE(hit.has_value());
    BOOST_TEST(hit->addresses.at(0).to_string() == "192.0.2.2");
}

BOOST_AUTO_TEST_CASE(size_is_bounded_least_recently_used_first) {
    Cache cache(policy(60, 86400, 3600, 5, 3));
    cache.put("a.example", RType::A, answer(Status::ok, 300), true, t0);
    cache.put("b.example", RType::A, answer(Status::ok, 300), true, t0);
    cache.put("c.example", RType::A, answer(Status::ok, 300), true, t0);
    BOOST_TEST(cache.get("a.example", RType::A, t0).has_value());  // a is now the freshest
    cache.put("d.example", RType::A, answer(Status::ok, 300), true, t0);
    BOOST_TEST(cache.size() == 3u);
    BOOST_TEST(!cache.get("b.example", RType::A, t0));
    BOOST_TEST(cache.get("a.example", RType::A, t0).has_value());
    BOOST_TEST(cache.get("c.example", RType::A, t0).has_value());
    BOOST_TEST(cache.get("d.example", RType::A, t0).has_value());
    for (int i = 0; i < 1000; ++i) {
        cache.put("n" + std::to_string(i) + ".example", RType::A, answer(Status::ok, 300), true,
                  t0);
    }
    BOOST_TEST(cache.size() == 3u);
    cache.clear();
    BOOST_TEST(cache.size() == 0u);
    Cache off(policy(60, 86400, 3600, 5, 0));
    BOOST_TEST(off.put("a.example", RType::A, answer(Status::ok, 300), true, t0) == 0u);
}

// Entries are attacker-shaped (a TXT can be 16 KiB): the byte bound holds whatever they are.
BOOST_AUTO_TEST_CASE(bytes_are_bounded_too) {
    auto p = policy(60, 86400, 3600, 5, 100000);
    p.max_bytes = 64 * 1024;
    Cache cache(p);
    Result big = answer(Status::ok, 300);
    big.texts.assign(1, std::string(10000, 't'));
    for (int i = 0; i < 100; ++i) {
        cache.put("t" + std::to_string(i) + ".example", RType::TXT, big, true, t0);
        BOOST_TEST(cache.bytes() <= p.max_bytes);
    }
    BOOST_TEST(cache.size() == 6u);  // 6 x ~10.3 KB fit in 64 KiB, not 7
    BOOST_TEST(cache.get("t99.example", RType::TXT, t0).has_value());
    BOOST_TEST(!cache.get("t90.example", RType::TXT, t0));
    // Small entries still fit next to them; replacing one keeps the count right.
    cache.put("a.example", RType::A, answer(Status::ok, 300), true, t0);
    cache.put("a.example", RType::A, answer(Status::ok, 300), true, t0);
    BOOST_TEST(cache.get("a.example", RType::A, t0).has_value());
    BOOST_TEST(cache.bytes() <= p.max_bytes);
    // One answer larger than the whole cache is not kept at all.
    big.texts.assign(1, std::string(70000, 't'));
    BOOST_TEST(cache.put("huge.example", RType::TXT, big, true, t0) == 0u);
    cache.clear();
    BOOST_TEST(cache.bytes() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
