// `check` on the control socket: a Session fed live DNS, rendered like a real one.
#include "milter/live_check.hpp"

#include "core/report.hpp"

namespace smtpwall {

void LiveCheck::run(const control::Request& req, std::function<void(std::string)> done) const {
    const auto ip = IpAddress::parse(req.ip);
    if (!ip) {
        done(control::frame_reply(false, "check needs --ip ADDRESS", ""));
        return;
    }
    auto session = std::make_shared<Session>(runtime_.policy(), *ip, "");
    const int threshold = runtime_.config()->scoring.threshold;
    if (!req.helo.empty()) session->helo(req.helo);
    if (!req.from.empty()) session->mail_from(req.from, false);
    auto finish = [session, threshold, json = req.json, done](const dns::DnsFacts* facts) {
        if (facts != nullptr) session->set_dns(*facts);
        const auto& c = session->classification();
        done(control::frame_reply(
            true, "",
            json ? json_text(check_json(c, threshold, facts)) : render_check(c, threshold, facts)));
    };
    if (dns_ == nullptr) {
        finish(nullptr);
        return;
    }
    auto lookups = dns_->start_session(*session->client());
    if (!req.helo.empty() && session->helo_valid() && req.helo.front() != '[')
        lookups->helo(req.helo);
    if (!req.from.empty()) lookups->mail_from(req.from);
    lookups->when_done([finish, lookups](dns::DnsFacts facts) { finish(&facts); });
}

}  // namespace smtpwall
