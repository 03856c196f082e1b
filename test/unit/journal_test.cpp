// The helper's journal file: what it writes is what a reboot reads back, a torn or
// foreign line costs only itself, and a planted symlink is never followed.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "firewall/journal.hpp"
#include "test/unit/temp_dir.hpp"

using namespace smtpwall;
using namespace smtpwall::firewall;
using helperproto::Entry;
using helperproto::Origin;

namespace {

struct Dir : test::TempDir {
    std::vector<std::string> logged;
    std::string file() const { return TempDir::file("entries"); }
    FileJournal journal() {
        return FileJournal(file(), [this](const std::string& l) { logged.push_back(l); });
    }
};

Entry entry(std::string_view net, std::int64_t expires, std::vector<std::string> tags) {
    Entry e;
    e.net = *Cidr::parse(net);
    e.origin = Origin::dynamic;
    e.expires = expires;
    e.tags = std::move(tags);
    return e;
}

std::vector<std::string> nets(const std::vector<Entry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(e.net.to_string());
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(journal)

BOOST_AUTO_TEST_CASE(what_is_written_is_read_back) {
    Dir dir;
    {
        auto j = dir.journal();
        BOOST_TEST(j.load().empty());  // no file yet: nothing to restore
        j.replace({entry("192.0.2.1", 1'800'000'600, {"trap", "badrcpt"}),
                   entry("2001:db8::/48", 0, {})});
        j.append({Change{Change::Kind::add, entry("192.0.2.2", 0, {"cbl"})},
                  Change{Change::Kind::remove, entry("2001:db8::/48", 0, {})},
                  Change{Change::Kind::add, entry("192.0.2.1", 1'800'000'900, {"trap"})}});
        BOOST_TEST(j.records() == 5u);
    }
    auto j = dir.journal();
    const auto kept = j.load();
    BOOST_TEST(nets(kept) == (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
    BOOST_TEST(kept[0].expires == 1'800'000'900);
    BOOST_TEST(kept[0].tags == std::vector<std::string>{"trap"});
    BOOST_TEST(kept[1].tags == std::vector<std::string>{"cbl"});
    BOOST_TEST(dir.logged.empty());
    // Only the helper may read what it banned.
    const auto perms = std::filesystem::status(dir.file()).permissions();
    BOOST_TEST(((perms & std::filesystem::perms::all) ==
                (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)));
}

BOOST_AUTO_TEST_CASE(torn_and_foreign_lines_cost_only_themselves) {
    Dir dir;
    {
        std::ofstream out(dir.file());
        out << "1 ADD 192.0.2.1/32 0 a\n"
               "1 ADD 127.0.0.1/32 0 x,y\n"  // parses: HelperState judges it
               "garbage\n"
               "1 LIST\n"
               "1 ADD 192.0.2.01/32 0 -\n"
               "1 ADD 192.0.2.3/32 0 c\n"
               "1 ADD 192.0.2.4/32 0";  // torn: the write never finished
    }
    auto j = dir.journal();
    const auto kept = j.load();
    BOOST_TEST(nets(kept) == (std::vector<std::string>{"127.0.0.1", "192.0.2.1", "192.0.2.3"}));
    BOOST_TEST(dir.logged.size() == 1u);
    BOOST_TEST(dir.logged[0].find("skipped 4 unreadable line(s)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(append_needs_a_replace_first_and_symlinks_are_not_followed) {
    Dir dir;
    auto j = dir.journal();
    BOOST_CHECK_THROW(j.append({Change{Change::Kind::add, entry("192.0.2.1", 0, {})}}),
                      JournalError);
    const auto target = (dir.path / "victim").string();
    { std::ofstream(target) << "precious\n"; }
    std::filesystem::create_symlink(target, dir.file());
    BOOST_CHECK_THROW(j.load(), JournalError);
    // replace() renames a fresh file over the link: the link's target is untouched.
    j.replace({entry("192.0.2.1", 0, {})});
    BOOST_TEST(!std::filesystem::is_symlink(dir.file()));
    std::ifstream in(target);
    std::string text;
    std::getline(in, text);
    BOOST_TEST(text == "precious");
    // A symlink planted at the temporary name is not followed either.
    std::filesystem::create_symlink(target, dir.file() + ".new");
    j.replace({entry("192.0.2.2", 0, {})});
    BOOST_TEST(nets(j.load()) == std::vector<std::string>{"192.0.2.2"});
}

BOOST_AUTO_TEST_SUITE_END()
