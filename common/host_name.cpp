// gethostname() as a string.
#include "common/host_name.hpp"

#include <unistd.h>

#include <array>

namespace smtpwall {

std::string system_host_name() {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) != 0) return {};
    return name.data();
}

}  // namespace smtpwall
