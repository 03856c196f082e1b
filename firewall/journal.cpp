// FileJournal: the helper's accepted entries in an append-only file (see journal.hpp).
#include "firewall/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

namespace smtpwall::firewall {

namespace {

using helperproto::Entry;
using helperproto::Request;
using helperproto::Verb;

std::string line_of(const Change& c) {
    Request r;
    r.id = 1;
    r.net = c.entry.net;
    if (c.kind == Change::Kind::add) {
        r.verb = Verb::add;
        r.expires = c.entry.expires;
        r.tags = c.entry.tags;
    } else {
        r.verb = Verb::del;
    }
    return helperproto::format_request(r) + "\n";
}

[[noreturn]] void fail(std::string_view what, const std::string& path) {
    throw JournalError(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

FileJournal::FileJournal(std::string path, LogFn log)
    : path_(std::move(path)), log_(std::move(log)) {}

FileJournal::~FileJournal() {
    if (fd_ >= 0) ::close(fd_);
}

void FileJournal::write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const auto n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write", path_);
        done += static_cast<std::size_t>(n);
    }
}

std::vector<Entry> FileJournal::load() {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return {};
        fail("open", path_);
    }
    std::string text;
    char buf[65536];
    while (true) {
        const auto n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            fail("read", path_);
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);

    std::map<Cidr, Entry> kept;
    std::size_t bad = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        const auto end = text.find('\n', pos);
        if (end == std::string::npos) {  // a torn last write: the change never counted
            ++bad;
            break;
        }
        const auto parsed =
            helperproto::parse_request(std::string_view(text).substr(pos, end - pos));
        pos = end + 1;
        const auto* r = std::get_if<Request>(&parsed);
        if (r == nullptr || (r->verb != Verb::add && r->verb != Verb::del)) {
            ++bad;
            continue;
        }
        if (r->verb == Verb::del) {
            kept.erase(r->net);
            continue;
        }
        Entry e;
        e.net = r->net;
        e.origin = helperproto::Origin::dynamic;
        e.expires = r->expires;
        e.tags = r->tags;
        kept[e.net] = std::move(e);
    }
    if (bad > 0) log_(fmt::format("journal {}: skipped {} unreadable line(s)", path_, bad));
    std::vector<Entry> out;
    out.reserve(kept.size());
    for (auto& [net, e] : kept) out.push_back(std::move(e));
    return out;
}

void FileJournal::replace(const std::vector<Entry>& entries) {
    const std::string fresh = path_ + ".new";
    ::unlink(fresh.c_str());
    const int fd =
        ::open(fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) fail("create", fresh);
    try {
        std::string text;
        for (const auto& e : entries) text += line_of(Change{Change::Kind::add, e});
        write_all(fd, text);
        if (::fdatasync(fd) != 0) fail("sync", fresh);
    } catch (...) {
        ::close(fd);
        ::unlink(fresh.c_str());
        throw;
    }
    if (::rename(fresh.c_str(), path_.c_str()) != 0) {
        ::close(fd);
        fail("rename to", path_);
    }
    const auto dir = std::filesystem::path(path_).parent_path();
    const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;  // the new file, positioned at its end: appends continue it
    records_ = entries.size();
}

void FileJournal::append(const std::vector<Change>& changes) {
    if (fd_ < 0) throw JournalError(fmt::format("{} is not open (no replace() yet)", path_));
    std::string text;
    for (const auto& c : changes) text += line_of(c);
    write_all(fd_, text);
    if (::fdatasync(fd_) != 0) fail("sync", path_);
    records_ += changes.size();
}

}  // namespace smtpwall::firewall
