// The SQLite state file (WAL) and the writer thread that keeps it current.
#include "milter/state_store.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/text.hpp"

namespace smtpwall {

namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS tallies (
    key TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    sessions INTEGER NOT NULL,
    rejections INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    bans INTEGER NOT NULL,
    window_seconds INTEGER NOT NULL,
    rejected_window BLOB NOT NULL,
    accepted_window BLOB NOT NULL,
    tags TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bans (
    key TEXT PRIMARY KEY,
    tags TEXT NOT NULL,
    since INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    rule TEXT NOT NULL,
    origin TEXT NOT NULL,
        observed INTEGER NOT NULL
) WITHOUT ROWID;
)";

// Each step takes the file from version N to N+1, inside the caller's transaction.
constexpr const char* kMigrations[] = {
    /* 0 -> 1 */ kSchema,
    /* 1 -> 2 */ R"(
CREATE TABLE IF NOT EXISTS allowlist (
    net TEXT PRIMARY KEY,
    added INTEGER NOT NULL
) WITHOUT ROWID;
)",
    /* 2 -> 3 */ R"(
ALTER TABLE tallies ADD COLUMN relay TEXT NOT NULL DEFAULT '';
ALTER TABLE tallies ADD COLUMN withheld INTEGER NOT NULL DEFAULT 0;
)",
    /* 3 -> 4 */ R"(
ALTER TABLE bans ADD COLUMN host TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS cluster_outbox (
    seq INTEGER PRIMARY KEY,
    op TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
)",
    /* 4 -> 5 */ R"(
CREATE TABLE IF NOT EXISTS history_entries (
    net TEXT PRIMARY KEY,
    dynamic INTEGER NOT NULL,
    tags TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    base_packets INTEGER,
    base_bytes INTEGER,
    end TEXT NOT NULL,
    ended INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_traffic (
    hour INTEGER NOT NULL,
    net TEXT NOT NULL,
    packets INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (hour, net)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_counts (
    hour INTEGER NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (hour, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_bans (
    time INTEGER NOT NULL,
    net TEXT NOT NULL,
    rule TEXT NOT NULL,
    tags TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_bans_time ON history_bans (time);
)",
};
static_assert(std::size(kMigrations) == StateStore::kSchemaVersion);

// A prepared statement that finalizes itself.
class Statement {
  public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
            throw StateError(fmt::format("prepare: {}", sqlite3_errmsg(db)));
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int i, std::int64_t v) {
        check(sqlite3_bind_int64(stmt_, i, v));
        return *this;
    }
    Statement& bind(int i, const std::string& v) {
        check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Statement& bind_blob(int i, const std::string& v) {
        check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    // True while there is a row.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw StateError(sqlite3_errmsg(db_));
    }
    void run() {
        step();
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
    bool null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
    std::string text(int col) const {
        const auto* p = sqlite3_column_text(stmt_, col);
        return p == nullptr
                   ? std::string{}
                   : std::string(reinterpret_cast<const char*>(p),
                                 static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
    }
    std::string blob(int col) const {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
        return p == nullptr
                   ? std::string{}
                   : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
    }

  private:
    void check(int rc) const {
        if (rc != SQLITE_OK) throw StateError(fmt::format("bind: {}", sqlite3_errmsg(db_)));
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

// 16 little-endian u16 buckets, then the newest bucket number as u32.
std::string encode_window(const WindowCounter& w) {
    std::string out;
    for (auto c : w.buckets()) {
        out.push_back(static_cast<char>(c & 0xff));
        out.push_back(static_cast<char>(c >> 8));
    }
    const auto n = w.newest_bucket();
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    return out;
}

WindowCounter decode_window(const std::string& blob) {
    if (blob.size() != WindowCounter::kBuckets * 2 + 4) return {};
    const auto* b = reinterpret_cast<const unsigned char*>(blob.data());
    WindowCounter::Buckets counts{};
    for (int i = 0; i < WindowCounter::kBuckets; ++i)
        counts[static_cast<std::size_t>(i)] =
            static_cast<std::uint16_t>(b[2 * i] | (b[2 * i + 1] << 8));
    std::uint32_t newest = 0;
    for (int i = 0; i < 4; ++i) newest |= static_cast<std::uint32_t>(b[32 + i]) << (8 * i);
    return WindowCounter::restore(counts, newest);
}

// "bad-helo:3:1800000000,spamtrap:1:1800000100"
std::string encode_tags(const std::vector<TallyRow::Tag>& tags) {
    std::string out;
    for (const auto& t : tags) {
        if (!out.empty()) out += ',';
        out += fmt::format("{}:{}:{}", t.name, t.count, t.last);
    }
    return out;
}

std::vector<TallyRow::Tag> decode_tags(std::string_view text) {
    std::vector<TallyRow::Tag> out;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const auto item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const auto c1 = item.find(':');
        const auto c2 = item.rfind(':');
        if (c1 == std::string_view::npos || c1 == c2) continue;
        TallyRow::Tag tag{std::string(item.substr(0, c1)), 0, 0};
        const auto count = item.substr(c1 + 1, c2 - c1 - 1);
        const auto last = item.substr(c2 + 1);
        std::from_chars(count.data(), count.data() + count.size(), tag.count);
        std::from_chars(last.data(), last.data() + last.size(), tag.last);
        out.push_back(std::move(tag));
    }
    return out;
}

std::string join(const std::vector<std::string>& v) {
    return fmt::format("{}", fmt::join(v, ","));
}

// join()'s text back into its tags.
std::vector<std::string> tags_of(std::string_view text) {
    std::vector<std::string> out;
    for (const auto tag : split(text, ',')) out.emplace_back(tag);
    return out;
}

}  // namespace

StateStore::StateStore(const std::string& path, std::chrono::seconds tally_window)
    : path_(path), window_(tally_window) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK)
        fail("cannot open");
    sqlite3_busy_timeout(db_, 2000);
    // Exclusive: two milters must never write one state file.
    exec("PRAGMA locking_mode = EXCLUSIVE");
    int version = -1;
    {
        // The first read takes the lock and tells a database from anything else.
        const int rc = sqlite3_exec(
            db_, "PRAGMA user_version",
            [](void* out, int, char** values, char**) {
                *static_cast<int*>(out) = values[0] ? std::atoi(values[0]) : 0;
                return 0;
            },
            &version, nullptr);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            throw StateError(
                fmt::format("state file {} is locked by another process (is another "
                            "smtpwall-milter running?)",
                            path));
        if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
            throw StateError(
                fmt::format("state file {} is not a valid smtpwall state file ({}); it was "
                            "left untouched: move it aside to start afresh",
                            path, sqlite3_errmsg(db_)));
        if (rc != SQLITE_OK) fail("cannot read");
    }
    if (version > kSchemaVersion)
        throw StateError(
            fmt::format("state file {} has schema version {}, newer than this smtpwall ({}); "
                        "it was left untouched",
                        path, version, kSchemaVersion));
    {
        std::string check;
        sqlite3_exec(
            db_, "PRAGMA quick_check",
            [](void* out, int, char** values, char**) {
                auto& s = *static_cast<std::string*>(out);
                if (s.empty() && values[0]) s = values[0];
                return 0;
            },
            &check, nullptr);
        if (check != "ok")
            throw StateError(
                fmt::format("state file {} is corrupt ({}); it was left untouched: move it "
                            "aside to start afresh",
                            path, check.empty() ? sqlite3_errmsg(db_) : check));
    }
    exec("PRAGMA journal_mode = WAL");
    exec("PRAGMA synchronous = NORMAL");
    exec("PRAGMA cache_size = -32768");  // 32 MiB: random-key upserts thrash the default 2 MiB
    if (version < kSchemaVersion) migrate(version);
}

StateStore::~StateStore() {
    sqlite3_close(db_);
}

void StateStore::migrate(int from_version) {
    exec("BEGIN");
    try {
        for (int v = from_version; v < kSchemaVersion; ++v) exec(kMigrations[v]);
        exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str());
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    if (from_version > 0)
        log_info(fmt::format("state file {} migrated from schema {} to {}", path_, from_version,
                             kSchemaVersion));
}

void StateStore::fail(const std::string& what) {
    throw StateError(fmt::format("state file {}: {}: {}", path_, what,
                                 db_ ? sqlite3_errmsg(db_) : "out of memory"));
}

void StateStore::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        const std::string message = err ? err : "unknown error";
        sqlite3_free(err);
        throw StateError(fmt::format("state file {}: {}", path_, message));
    }
}

StateStore::Contents StateStore::load() {
    Contents out;
    Statement tallies(
        db_,
        "SELECT key, first_seen, last_seen, sessions, rejections, accepted, bans, "
        "window_seconds, rejected_window, accepted_window, tags, relay, withheld FROM tallies");
    while (tallies.step()) {
        const auto key = Cidr::parse(tallies.text(0));
        if (!key) continue;  // not ours to interpret: leave it
        TallyRow row;
        row.key = *key;
        row.tally.first_seen = tallies.integer(1);
        row.tally.last_seen = tallies.integer(2);
        row.tally.sessions = static_cast<std::uint32_t>(tallies.integer(3));
        row.tally.rejections = static_cast<std::uint32_t>(tallies.integer(4));
        row.tally.accepted = static_cast<std::uint32_t>(tallies.integer(5));
        row.tally.bans = static_cast<std::uint16_t>(tallies.integer(6));
        // Buckets mean nothing under a different window length: start those afresh.
        if (tallies.integer(7) == window_.count()) {
            row.tally.recent_rejections = decode_window(tallies.blob(8));
            row.tally.recent_accepted = decode_window(tallies.blob(9));
        }
        row.tags = decode_tags(tallies.text(10));
        row.relay = tallies.text(11);
        row.withheld = static_cast<std::uint32_t>(tallies.integer(12));
        out.tallies.push_back(std::move(row));
    }
    Statement allows(db_, "SELECT net FROM allowlist");
    while (allows.step())
        if (const auto net = Cidr::parse(allows.text(0))) out.allows.push_back(*net);
    Statement outbox(db_, "SELECT seq, op FROM cluster_outbox ORDER BY seq");
    while (outbox.step()) {
        const auto fields = nlohmann::json::parse(outbox.text(1), nullptr, false);
        if (!fields.is_array()) continue;
        std::vector<std::string> flat;
        for (const auto& f : fields)
            if (f.is_string()) flat.push_back(f.get<std::string>());
        if (auto op = cluster::parse_op(flat))
            out.outbox.push_back({static_cast<std::uint64_t>(outbox.integer(0)), std::move(*op)});
    }
    Statement meta(db_, "SELECT name, value FROM cluster_meta");
    while (meta.step()) out.cluster_meta[meta.text(0)] = meta.text(1);
    load_history(out.history);
    Statement bans(db_, "SELECT key, tags, since, expires, rule, origin, observed, host FROM bans");
    while (bans.step()) {
        const auto key = Cidr::parse(bans.text(0));
        if (!key) continue;
        Ban ban;
        ban.key = *key;
        ban.tags = tags_of(bans.text(1));
        ban.since = bans.integer(2);
        ban.expires = bans.integer(3);
        ban.rule = bans.text(4);
        ban.origin = origin_from_name(bans.text(5)).value_or(BanOrigin::policy);
        ban.observed = bans.integer(6) != 0;
        ban.host = bans.text(7);
        out.bans.push_back(std::move(ban));
    }
    return out;
}

void StateStore::write(const StateChanges& changes) {
    if (changes.empty()) return;
    exec("BEGIN");
    try {
        Statement put_tally(
            db_,
            "INSERT OR REPLACE INTO tallies (key, first_seen, last_seen, sessions, rejections, "
            "accepted, bans, window_seconds, rejected_window, accepted_window, tags, relay, "
            "withheld) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
        for (const auto& row : changes.tallies) {
            const Tally& t = row.tally;
            put_tally.bind(1, row.key.to_string())
                .bind(2, t.first_seen)
                .bind(3, t.last_seen)
                .bind(4, t.sessions)
                .bind(5, t.rejections)
                .bind(6, t.accepted)
                .bind(7, t.bans)
                .bind(8, window_.count())
                .bind_blob(9, encode_window(t.recent_rejections))
                .bind_blob(10, encode_window(t.recent_accepted))
                .bind(11, encode_tags(row.tags))
                .bind(12, row.relay)
                .bind(13, row.withheld)
                .run();
        }
        Statement drop_tally(db_, "DELETE FROM tallies WHERE key = ?1");
        for (const auto& key : changes.tallies_removed) drop_tally.bind(1, key.to_string()).run();
        Statement put_ban(
            db_,
            "INSERT OR REPLACE INTO bans (key, tags, since, expires, rule, origin, observed, host) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        Statement drop_ban(db_, "DELETE FROM bans WHERE key = ?1");
        Statement put_allow(
            db_, "INSERT OR REPLACE INTO allowlist (net, added) VALUES (?1, strftime('%s','now'))");
        for (const auto& net : changes.allows_added) put_allow.bind(1, net.to_string()).run();
        for (const auto& change : changes.bans) {
            const Ban& b = change.ban;
            if (!change.added) {
                drop_ban.bind(1, b.key.to_string()).run();
                continue;
            }
            put_ban.bind(1, b.key.to_string())
                .bind(2, join(b.tags))
                .bind(3, b.since)
                .bind(4, b.expires)
                .bind(5, b.rule)
                .bind(6, std::string(origin_name(b.origin)))
                .bind(7, b.observed ? 1 : 0)
                .bind(8, b.host)
                .run();
        }
        Statement put_op(db_, "INSERT OR REPLACE INTO cluster_outbox (seq, op) VALUES (?1, ?2)");
        for (const auto& e : changes.outbox_added)
            put_op.bind(1, static_cast<std::int64_t>(e.seq))
                .bind(2, nlohmann::json(cluster::op_fields(e.op)).dump())
                .run();
        Statement drop_op(db_, "DELETE FROM cluster_outbox WHERE seq = ?1");
        for (const auto seq : changes.outbox_published)
            drop_op.bind(1, static_cast<std::int64_t>(seq)).run();
        Statement put_meta(db_,
                           "INSERT OR REPLACE INTO cluster_meta (name, value) VALUES (?1, ?2)");
        for (const auto& [name, value] : changes.cluster_meta)
            put_meta.bind(1, name).bind(2, value).run();
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void StateStore::load_history(CounterHistory::Contents& out) {
    Statement entries(db_,
                      "SELECT net, dynamic, tags, first_seen, last_seen, segments, base_packets, "
                      "base_bytes, end, ended FROM history_entries");
    while (entries.step()) {
        const auto net = Cidr::parse(entries.text(0));
        if (!net) continue;
        HistoryEntry e;
        e.net = *net;
        e.origin =
            entries.integer(1) != 0 ? helperproto::Origin::dynamic : helperproto::Origin::core;
        e.tags = tags_of(entries.text(2));
        e.first_seen = entries.integer(3);
        e.last_seen = entries.integer(4);
        e.segments = static_cast<std::uint32_t>(entries.integer(5));
        if (!entries.null(6) && !entries.null(7)) {
            e.base_packets = static_cast<std::uint64_t>(entries.integer(6));
            e.base_bytes = static_cast<std::uint64_t>(entries.integer(7));
        }
        e.end = entry_end_from_name(entries.text(8)).value_or(EntryEnd::gone);
        e.ended = entries.integer(9);
        out.entries.push_back(std::move(e));
    }
    Statement traffic(db_, "SELECT hour, net, packets, bytes, attempts FROM history_traffic");
    while (traffic.step()) {
        const auto net = Cidr::parse(traffic.text(1));
        if (!net) continue;
        out.traffic.push_back({traffic.integer(0), *net,
                               TrafficCounts{static_cast<std::uint64_t>(traffic.integer(2)),
                                             static_cast<std::uint64_t>(traffic.integer(3)),
                                             static_cast<std::uint64_t>(traffic.integer(4))}});
    }
    Statement counts(db_, "SELECT hour, name, value FROM history_counts");
    while (counts.step())
        out.counts.push_back(
            {counts.integer(0), counts.text(1), static_cast<std::uint64_t>(counts.integer(2))});
    Statement bans(db_, "SELECT time, net, rule, tags, origin FROM history_bans ORDER BY time");
    while (bans.step()) {
        const auto net = Cidr::parse(bans.text(1));
        if (!net) continue;
        BanRecord b;
        b.time = bans.integer(0);
        b.net = *net;
        b.rule = bans.text(2);
        b.tags = tags_of(bans.text(3));
        b.origin = bans.text(4);
        out.bans.push_back(std::move(b));
    }
}

void StateStore::write_history(const HistoryChanges& changes) {
    if (changes.empty()) return;
    exec("BEGIN");
    try {
        Statement put_entry(db_,
                            "INSERT OR REPLACE INTO history_entries (net, dynamic, tags, "
                            "first_seen, last_seen, segments, base_packets, base_bytes, end, "
                            "ended) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        for (const auto& e : changes.entries) {
            put_entry.bind(1, e.net.to_string())
                .bind(2, e.origin == helperproto::Origin::dynamic ? 1 : 0)
                .bind(3, join(e.tags))
                .bind(4, e.first_seen)
                .bind(5, e.last_seen)
                .bind(6, e.segments);
            if (e.base_packets && e.base_bytes) {
                put_entry.bind(7, static_cast<std::int64_t>(*e.base_packets))
                    .bind(8, static_cast<std::int64_t>(*e.base_bytes));
            }  // else NULL: not in the kernel at the last sample
            put_entry.bind(9, std::string(entry_end_name(e.end))).bind(10, e.ended).run();
        }
        Statement drop_entry(db_, "DELETE FROM history_entries WHERE net = ?1");
        for (const auto& net : changes.entries_removed) drop_entry.bind(1, net.to_string()).run();
        Statement put_traffic(db_,
                              "INSERT OR REPLACE INTO history_traffic (hour, net, packets, bytes, "
                              "attempts) VALUES (?1, ?2, ?3, ?4, ?5)");
        for (const auto& row : changes.traffic)
            put_traffic.bind(1, row.hour)
                .bind(2, row.net.to_string())
                .bind(3, static_cast<std::int64_t>(row.counts.packets))
                .bind(4, static_cast<std::int64_t>(row.counts.bytes))
                .bind(5, static_cast<std::int64_t>(row.counts.attempts))
                .run();
        Statement put_count(
            db_, "INSERT OR REPLACE INTO history_counts (hour, name, value) VALUES (?1, ?2, ?3)");
        for (const auto& row : changes.counts)
            put_count.bind(1, row.hour)
                .bind(2, row.name)
                .bind(3, static_cast<std::int64_t>(row.value))
                .run();
        Statement put_ban(db_,
                          "INSERT INTO history_bans (time, net, rule, tags, origin) VALUES (?1, "
                          "?2, ?3, ?4, ?5)");
        for (const auto& b : changes.bans)
            put_ban.bind(1, b.time)
                .bind(2, b.net.to_string())
                .bind(3, b.rule)
                .bind(4, join(b.tags))
                .bind(5, b.origin)
                .run();
        if (changes.pruned_before != 0) {
            for (const char* sql : {"DELETE FROM history_traffic WHERE hour < ?1",
                                    "DELETE FROM history_counts WHERE hour < ?1",
                                    "DELETE FROM history_bans WHERE time < ?1"}) {
                Statement prune(db_, sql);
                prune.bind(1, changes.pruned_before).run();
            }
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

StateWriter::StateWriter(StateStore& store, Enforcement& enforcement, std::chrono::seconds interval,
                         Clock clock, HistorySource history)
    : store_(store),
      enforcement_(enforcement),
      interval_(interval),
      clock_(std::move(clock)),
      history_(std::move(history)) {
    thread_ = std::thread([this] { run(); });
}

StateWriter::~StateWriter() {
    stop();
}

void StateWriter::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool StateWriter::flush() {
    unwritten_.merge(enforcement_.take_changes(clock_()));
    if (history_) unwritten_history_.merge(history_());
    try {
        store_.write(unwritten_);
        unwritten_ = {};
        store_.write_history(unwritten_history_);
        unwritten_history_ = {};
        return true;
    } catch (const std::exception& e) {
        log_error(fmt::format("state not saved, will retry {}", kv("error", e.what())));
        return false;
    }
}

void StateWriter::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, interval_, [this] { return stopping_; });
        lock.unlock();
        flush();
        lock.lock();
    }
    lock.unlock();
    flush();  // whatever changed while the last write ran
}

}  // namespace smtpwall
