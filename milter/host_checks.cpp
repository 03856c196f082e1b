// Looks up the users, groups, directories and DNS servers the configuration names.
#include "milter/host_checks.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <filesystem>

#include "milter/dns_service.hpp"

namespace smtpwall {

std::vector<std::string> host_problems(const conf::MilterConfig& config) {
    std::vector<std::string> out;
    auto problem = [&](std::string_view key, const std::string& message) {
        out.push_back(fmt::format("{}: {}: {}", conf::location_of(config.where, key, config.source),
                                  key, message));
    };
    const passwd* pw = ::getpwnam(config.milter.user.c_str());
    if (pw == nullptr)
        problem("milter.user", fmt::format("user \"{}\" does not exist", config.milter.user));
    else if (pw->pw_uid == 0)
        problem("milter.user",
                fmt::format("\"{}\" is root; the milter never runs as root", config.milter.user));
    for (const auto& [key, group] : {std::pair{"milter.socket_group", config.milter.socket_group},
                                     std::pair{"control.socket_group", config.control.socket_group},
                                     std::pair{"control.admin_group", config.control.admin_group}})
        if (!group.empty() && ::getgrnam(group.c_str()) == nullptr)
            problem(key, fmt::format("group \"{}\" does not exist", group));
    if (::getpwnam(config.helper.user.c_str()) == nullptr)
        problem("helper.user", fmt::format("user \"{}\" does not exist", config.helper.user));
    for (const auto& user : config.control.admin_users)
        if (::getpwnam(user.c_str()) == nullptr)
            problem("control.admin_users", fmt::format("user \"{}\" does not exist", user));
    if (!config.state.file.empty()) {
        const auto dir = std::filesystem::path(config.state.file).parent_path();
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            problem("state.file", fmt::format("directory {} does not exist", dir.string()));
    }
    if (config.cluster.enabled() && config.state.file.empty())
        problem(config.cluster.redis.empty() ? "cluster.sentinels" : "cluster.redis",
                "cluster mode keeps what it must publish in the state file: set state.file");
    if (!config.cluster.password_file.empty()) {
        // The password opens every host's firewall to whoever holds it.
        struct stat st {};
        const auto& file = config.cluster.password_file;
        if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            problem("cluster.password_file", fmt::format("{} is not a readable file", file));
        else if ((st.st_mode & 0007) != 0 || (st.st_mode & 0020) != 0)
            problem("cluster.password_file",
                    fmt::format("{} is accessible to others (mode {:04o}): chmod 0640 or 0600",
                                file, st.st_mode & 07777));
        else if (st.st_uid != 0 && (pw == nullptr || st.st_uid != pw->pw_uid))
            problem("cluster.password_file",
                    fmt::format("{} must belong to root or {}", file, config.milter.user));
    }
    if (config.dns.enabled) {
        try {
            resolver_config(config);
        } catch (const std::exception& e) {
            problem("dns.servers", e.what());
        }
    }
    return out;
}

}  // namespace smtpwall
