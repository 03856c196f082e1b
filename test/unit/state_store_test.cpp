#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "milter/state_store.hpp"
#include "test/unit/temp_dir.hpp"

using namespace smtpwall;
using std::chrono::seconds;

namespace {

constexpr UnixTime kT0 = 1'800'000'000;

using test::TempDir;

struct NoFirewall : FirewallLink {
    void ban(const Ban&, Done done) override {
        if (done) done(Result::applied);
    }
    void unban(const Cidr&) override {}
    void sync(const std::vector<Ban>&, SyncDone) override {}
};

std::string error_opening(const std::string& path) {
    try {
        StateStore store(path, seconds(3600));
    } catch (const StateError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(state_store)

BOOST_AUTO_TEST_CASE(tallies_and_bans_survive_a_restart) {
    TempDir dir;
    const auto path = dir.file("state.db");
    const auto cfg = conf::parse_milter_config("", "t.conf");
    NoFirewall fw;
    {
        Enforcement e(cfg, fw);
        StateStore store(path, cfg.tally.window);
        e.record_session(*IpAddress::parse("192.0.2.7"), kT0);
        const std::vector<std::string> tags = {"spamtrap"};
        e.record_rejection(*IpAddress::parse("192.0.2.7"), tags, kT0);
        e.record_rejection(*IpAddress::parse("2001:db8::1"), std::vector<std::string>{"bad-helo"},
                           kT0);
        // A shared relay that earned a ban and was spared it.
        const RelayFacts relay{true, SharedRelay{SharedRelay::Why::provider, "relay.example"}};
        e.record_rejection(*IpAddress::parse("198.51.100.9"), tags, kT0, relay);
        store.write(e.take_changes(kT0));
    }
    Enforcement restored(cfg, fw);
    StateStore store(path, cfg.tally.window);
    const auto saved = store.load();
    BOOST_TEST(saved.tallies.size() == 3u);
    BOOST_TEST(saved.bans.size() == 1u);
    restored.restore(saved.tallies, saved.bans, saved.allows, kT0 + 5);
    BOOST_TEST(restored.is_banned(*IpAddress::parse("192.0.2.7")));
    const auto row = restored.tally_of(*Cidr::parse("192.0.2.7"), kT0 + 5);
    BOOST_REQUIRE(row);
    BOOST_TEST(row->tally.sessions == 1u);
    BOOST_TEST(row->recent == 1u);  // the window came back too
    BOOST_TEST(row->tags.at(0).name == "spamtrap");
    BOOST_TEST(restored.ban_covering(*IpAddress::parse("192.0.2.7"))->rule ==
               "ban at first spamtrap");
    const Cidr relay = *Cidr::parse("198.51.100.9");
    BOOST_TEST(restored.shared_relay(relay)->to_string() == "provider:relay.example");
    BOOST_TEST(restored.tally_of(relay, kT0 + 5)->withheld == 1u);
    BOOST_TEST(!restored.ban_covering(relay.base));
}

BOOST_AUTO_TEST_CASE(removed_bans_stay_removed) {
    TempDir dir;
    const auto path = dir.file("state.db");
    StateStore store(path, seconds(3600));
    StateChanges c;
    Ban ban{*Cidr::parse("192.0.2.7"), {"x"}, kT0, kT0 + 10, "r", BanOrigin::policy, false};
    c.bans.push_back({true, ban});
    c.bans.push_back({false, ban});  // banned and lifted within one flush
    c.bans.push_back(
        {true, Ban{*Cidr::parse("192.0.2.8"), {}, kT0, 0, "manual", BanOrigin::manual, false}});
    store.write(c);
    const auto saved = store.load();
    BOOST_REQUIRE(saved.bans.size() == 1u);
    BOOST_TEST(saved.bans[0].key.to_string() == "192.0.2.8");
    BOOST_TEST((saved.bans[0].origin == BanOrigin::manual));
}

BOOST_AUTO_TEST_CASE(a_corrupt_file_is_reported_and_left_untouched) {
    TempDir dir;
    const auto path = dir.file("state.db");
    {
        std::ofstream out(path);
        out << "this is not a database, it is somebody's notes\n";
    }
    const auto err = error_opening(path);
    BOOST_TEST(err.find("not a valid smtpwall state file") != std::string::npos, err);
    BOOST_TEST(err.find("move it aside") != std::string::npos, err);
    std::ifstream in(path);
    std::string first;
    std::getline(in, first);
    BOOST_TEST(first == "this is not a database, it is somebody's notes");
}

BOOST_AUTO_TEST_CASE(a_second_process_is_refused) {
    TempDir dir;
    const auto path = dir.file("state.db");
    StateStore first(path, seconds(3600));
    const auto err = error_opening(path);
    BOOST_TEST(err.find("locked by another process") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(a_newer_schema_is_refused) {
    TempDir dir;
    const auto path = dir.file("state.db");
    {
        sqlite3* db = nullptr;
        sqlite3_open(path.c_str(), &db);
        sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
        sqlite3_close(db);
    }
    const auto err = error_opening(path);
    BOOST_TEST(err.find("schema version 99") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(a_version_1_file_is_migrated_and_keeps_its_bans) {
    TempDir dir;
    const auto path = dir.file("state.db");
    {
        // What smtpwall with schema 1 wrote.
        sqlite3* db = nullptr;
        sqlite3_open(path.c_str(), &db);
        sqlite3_exec(
            db,
            "CREATE TABLE tallies (key TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen "
            "INTEGER NOT "
            "NULL, sessions INTEGER NOT NULL, rejections INTEGER NOT NULL, accepted INTEGER NOT "
            "NULL, bans "
            "INTEGER NOT NULL, window_seconds INTEGER NOT NULL, rejected_window BLOB NOT NULL, "
            "accepted_window BLOB NOT NULL, tags TEXT NOT NULL) WITHOUT ROWID;"
            "CREATE TABLE bans (key TEXT PRIMARY KEY, tags TEXT NOT NULL, since INTEGER NOT NULL, "
            "expires "
            "INTEGER NOT NULL, rule TEXT NOT NULL, origin TEXT NOT NULL, observed INTEGER NOT "
            "NULL) WITHOUT "
            "ROWID;"
            "INSERT INTO bans VALUES ('192.0.2.7', 'spamtrap', 1, 0, 'manual', 'manual', 0);"
            "INSERT INTO tallies VALUES ('192.0.2.7', 1, 2, 3, 4, 5, 1, 3600, x'', x'', "
            "'spamtrap:4:2');"
            "PRAGMA user_version = 1;",
            nullptr, nullptr, nullptr);
        sqlite3_close(db);
    }
    {
        StateStore store(path, seconds(3600));
        const auto saved = store.load();
        BOOST_REQUIRE(saved.bans.size() == 1u);
        BOOST_TEST(saved.bans[0].key.to_string() == "192.0.2.7");
        BOOST_REQUIRE(saved.tallies.size() == 1u);
        BOOST_TEST(saved.tallies[0].tally.accepted == 5u);
        BOOST_TEST(saved.tallies[0].relay == "");
        BOOST_TEST(saved.tallies[0].withheld == 0u);
        StateChanges c;
        c.allows_added.push_back(*Cidr::parse("203.0.113.0/24"));
        store.write(c);
    }
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    int version = 0;
    sqlite3_exec(
        db, "PRAGMA user_version",
        [](void* out, int, char** values, char**) {
            *static_cast<int*>(out) = std::atoi(values[0]);
            return 0;
        },
        &version, nullptr);
    sqlite3_close(db);
    BOOST_TEST(version == StateStore::kSchemaVersion);
    StateStore reopened(path, seconds(3600));
    BOOST_TEST(reopened.load().allows.size() == 1u);
}

BOOST_AUTO_TEST_CASE(writer_flushes_on_stop) {
    TempDir dir;
    const auto path = dir.file("state.db");
    const auto cfg = conf::parse_milter_config("", "t.conf");
    NoFirewall fw;
    Enforcement e(cfg, fw);
    {
        StateStore store(path, cfg.tally.window);
        StateWriter writer(store, e, seconds(60), [] { return kT0; });
        e.record_session(*IpAddress::parse("192.0.2.7"), kT0);
        writer.stop();
    }
    StateStore store(path, cfg.tally.window);
    BOOST_TEST(store.load().tallies.size() == 1u);
}

BOOST_AUTO_TEST_CASE(counter_history_survives_a_restart) {
    TempDir dir;
    const auto path = dir.file("state.db");
    CounterHistory history(std::chrono::hours(24 * 35));
    helperproto::Entry e;
    e.net = *Cidr::parse("192.0.2.7/32");
    e.packets = 30;
    e.bytes = 1800;
    e.tags = {"spamtrap", "bad-helo"};
    history.sample({e}, kT0);
    helperproto::Entry core;
    core.net = *Cidr::parse("2001:db8:ff::/48");
    core.origin = helperproto::Origin::core;
    history.sample({e, core}, kT0 + 10);
    history.sample({core}, kT0 + 20);  // 192.0.2.7 left: no baseline (NULL in the file)
    history.ended(e.net, EntryEnd::unbanned, kT0 + 20);
    history.sample_counts({{"session:reject", 4}}, kT0 + 20);
    history.record_ban({kT0, e.net, "ban at first spamtrap", {"spamtrap"}, "policy"});
    const auto before_top = history.top(kT0, kT0 + 3600);
    {
        StateStore store(path, seconds(3600));
        store.write_history(history.take_changes());
    }
    StateStore store(path, seconds(3600));
    CounterHistory restored(std::chrono::hours(24 * 35));
    restored.restore(store.load().history);
    const auto top = restored.top(kT0, kT0 + 3600);
    BOOST_REQUIRE(top.size() == before_top.size());
    for (std::size_t i = 0; i < top.size(); ++i) {
        BOOST_TEST((top[i].entry == before_top[i].entry));
        BOOST_TEST((top[i].counts == before_top[i].counts));
    }
    BOOST_TEST(!restored.entry(e.net)->base_packets);
    BOOST_TEST(*restored.entry(core.net)->base_packets == 0u);
    BOOST_TEST(restored.counts(kT0, kT0 + 3600).at("session:reject") == 4u);
    BOOST_TEST(restored.bans(kT0, kT0 + 3600).size() == 1u);
    BOOST_TEST(restored.bans(kT0, kT0 + 3600)[0].tags == std::vector<std::string>{"spamtrap"});
}

BOOST_AUTO_TEST_SUITE_END()
