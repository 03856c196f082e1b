// The helper's journal of the dynamic entries it accepted (EntryJournal in a file).
//
// Format: one helper-protocol request line per change, "1 ADD <cidr> <expires> <tags>"
// or "1 DEL <cidr>", parsed on load with the protocol codec, so the file is held to
// the same strict grammar as the socket (and its entries to the same rules by
// HelperState). Appends are written and fdatasync()ed after each commit; replace()
// writes a new file beside it, syncs it and renames it over the old one, so a crash
// leaves either the old set or the new one. The file lives in a directory only the
// helper may write and is opened with O_NOFOLLOW.
#pragma once

#include <functional>
#include <string>

#include "firewall/helper_state.hpp"

namespace smtpwall::firewall {

class FileJournal final : public EntryJournal {
  public:
    using LogFn = std::function<void(const std::string&)>;
    // Does not touch the file yet.
    FileJournal(std::string path, LogFn log);
    ~FileJournal() override;
    FileJournal(const FileJournal&) = delete;
    FileJournal& operator=(const FileJournal&) = delete;

    std::vector<helperproto::Entry> load() override;
    void replace(const std::vector<helperproto::Entry>& entries) override;
    void append(const std::vector<Change>& changes) override;
    std::size_t records() const override { return records_; }

  private:
    void write_all(int fd, const std::string& text);

    const std::string path_;
    LogFn log_;
    int fd_ = -1;  // open for appending once replace() has run
    std::size_t records_ = 0;
};

}  // namespace smtpwall::firewall
