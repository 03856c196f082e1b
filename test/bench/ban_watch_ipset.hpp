// libipset for ban_watch.cpp: its headers and libiptc's cannot share a translation unit.
#pragma once

#include <optional>
#include <string>

namespace bench {

// The set NAME in `ipset save` format, or nothing if it cannot be listed now.
std::optional<std::string> ipset_save(const std::string& name);

}  // namespace bench
