// packaging/grafana/smtpwall-dashboard.json queries only what the milter exports:
// every metric name in its expressions is a sample of the Prometheus exposition,
// and every label it groups or filters by is one of that metric's labels (or a
// label Prometheus adds to every target).
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "milter/metrics.hpp"

using namespace smtpwall;

namespace {

// Every family present: each counter and label map has at least one entry.
std::string full_exposition() {
    Metrics m;
    for (auto v : {SessionVerdict::accept, SessionVerdict::reject, SessionVerdict::tempfail})
        for (bool observe : {false, true}) m.session(v, observe);
    m.rejection(std::vector<std::string>{"bad-helo"});
    m.dns_wait(std::chrono::milliseconds(3), true);
    m.zone_answer("cbl", "listed", std::chrono::milliseconds(5));
    m.ban_added("policy");
    m.ban_withheld("provider");
    m.ban_expired();
    m.ban_refused();
    m.ban_lifted();
    m.helper_error();
    m.helper_connected();
    m.cluster_published();
    m.cluster_applied();
    m.cluster_reconnect();
    m.internal_error("connect");
    m.over_budget("helo_names");
    m.control_refused("connections");
    Gauges g;
    g.zones["cbl.example"] = {false, false, 0};
    g.cluster.enabled = true;
    return render_prometheus(m.snapshot(), g);
}

// sample name -> its label names
std::map<std::string, std::set<std::string>> samples(const std::string& text) {
    std::map<std::string, std::set<std::string>> out;
    std::istringstream in(text);
    const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)=")");
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        const auto end = line.find_first_of("{ ");
        auto& labels = out[line.substr(0, end)];
        if (line[end] != '{') continue;
        const auto body = line.substr(end, line.find('}') - end);
        for (std::sregex_iterator it(body.begin(), body.end(), label), stop; it != stop; ++it)
            labels.insert((*it)[1]);
    }
    return out;
}

void collect_expressions(const nlohmann::json& node, std::vector<std::string>& out) {
    if (node.is_object()) {
        for (const auto& [key, value] : node.items()) {
            if ((key == "expr" || key == "definition") && value.is_string())
                out.push_back(value.get<std::string>());
            collect_expressions(value, out);
        }
    } else if (node.is_array()) {
        for (const auto& item : node) collect_expressions(item, out);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(grafana_dashboard)

BOOST_AUTO_TEST_CASE(queries_only_exported_metrics_and_labels) {
    const std::string path =
        std::string(SMTPWALL_SOURCE_DIR) + "/packaging/grafana/smtpwall-dashboard.json";
    std::ifstream in(path);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " + path);
    const auto dashboard = nlohmann::json::parse(in);
    BOOST_TEST(dashboard["__inputs"][0]["pluginId"] == "prometheus");  // importable as is
    std::vector<std::string> expressions;
    collect_expressions(dashboard, expressions);
    BOOST_REQUIRE(expressions.size() >= 20u);

    const auto exported = samples(full_exposition());
    const std::set<std::string> target_labels = {"instance", "job"};
    const std::regex metric(R"(smtpwall_[a-z_]+)");
    const std::regex grouping(R"(\b(?:by|without)\s*\(([^)]*)\))");
    const std::regex matcher(R"(([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*")");
    std::set<std::string> used;
    for (const auto& expr : expressions) {
        std::set<std::string> metrics;
        for (std::sregex_iterator it(expr.begin(), expr.end(), metric), stop; it != stop; ++it)
            metrics.insert(it->str());
        BOOST_TEST_CONTEXT(expr) {
            BOOST_TEST(!metrics.empty());
            std::set<std::string> labels_of_metrics = target_labels;
            for (const auto& m : metrics) {
                used.insert(m);
                const auto it = exported.find(m);
                BOOST_TEST((it != exported.end()), m << " is not exported by the milter");
                if (it != exported.end())
                    labels_of_metrics.insert(it->second.begin(), it->second.end());
            }
            std::set<std::string> labels;
            for (std::sregex_iterator it(expr.begin(), expr.end(), grouping), stop; it != stop;
                 ++it) {
                std::istringstream names((*it)[1].str());
                for (std::string name; std::getline(names, name, ',');) {
                    name.erase(0, name.find_first_not_of(' '));
                    name.erase(name.find_last_not_of(' ') + 1);
                    if (!name.empty()) labels.insert(name);
                }
            }
            for (std::sregex_iterator it(expr.begin(), expr.end(), matcher), stop; it != stop; ++it)
                labels.insert((*it)[1]);
            for (const auto& l : labels)
                BOOST_TEST(labels_of_metrics.contains(l),
                           "label " << l << " is on none of its metrics");
        }
    }
    // What the issue asks the dashboard to show is there.
    for (const char* needed : {"smtpwall_sessions_total", "smtpwall_rejections_total",
                               "smtpwall_bans_active", "smtpwall_bans_added_total",
                               "smtpwall_bans_expired_total", "smtpwall_zone_latency_seconds_sum",
                               "smtpwall_zone_answers_total", "smtpwall_helper_connected"})
        BOOST_TEST(used.contains(needed), needed);
}

BOOST_AUTO_TEST_SUITE_END()
