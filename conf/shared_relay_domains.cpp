// The shipped shared-relay domains. An entry belongs here when the provider sends
// mail for very many unrelated users or customers from hosts named under it, and
// nothing else lives under it: a cloud's instance names (amazonaws.com,
// googleusercontent.com) or a hoster's customer machines are single tenants and stay
// out, and where a provider mixes both, only its mail sub-domain is listed.
#include "conf/shared_relay_domains.hpp"

#include <algorithm>
#include <array>

namespace smtpwall::conf {

namespace {

constexpr auto kDomains = std::to_array<RelayDomain>({
    {"163.com", "NetEase Mail"},
    {"amazonses.com", "Amazon SES"},
    {"aol.com", "AOL (Yahoo)"},
    {"constantcontact.com", "Constant Contact"},
    {"emailsrvr.com", "Rackspace Email"},
    {"exacttarget.com", "Salesforce Marketing Cloud"},
    {"gmx.com", "GMX"},
    {"gmx.net", "GMX"},
    {"google.com", "Google (Gmail, Workspace)"},
    {"googlemail.com", "Google (Gmail)"},
    {"hotmail.com", "Microsoft (Hotmail)"},
    {"hubspotemail.net", "HubSpot"},
    {"icloud.com", "Apple iCloud Mail"},
    {"iphmx.com", "Cisco Secure Email (cloud)"},
    {"kundenserver.de", "IONOS (1&1)"},
    {"mac.com", "Apple iCloud Mail"},
    {"mail-out.ovh.net", "OVHcloud mail"},
    {"mail.ru", "Mail.ru"},
    {"mailgun.net", "Mailgun"},
    {"mailjet.com", "Mailjet"},
    {"mandrillapp.com", "Mailchimp Transactional (Mandrill)"},
    {"mcdlv.net", "Mailchimp"},
    {"mcsv.net", "Mailchimp"},
    {"me.com", "Apple iCloud Mail"},
    {"messagingengine.com", "Fastmail"},
    {"mimecast.com", "Mimecast"},
    {"mtasv.net", "Postmark"},
    {"outlook.com", "Microsoft (Outlook, Exchange Online)"},
    {"pphosted.com", "Proofpoint"},
    {"proton.ch", "Proton Mail"},
    {"protonmail.ch", "Proton Mail"},
    {"qq.com", "Tencent QQ Mail"},
    {"rsgsv.net", "Mailchimp"},
    {"salesforce.com", "Salesforce"},
    {"sendgrid.net", "Twilio SendGrid"},
    {"sendinblue.com", "Brevo (Sendinblue)"},
    {"sparkpostmail.com", "SparkPost"},
    {"web.de", "WEB.DE"},
    {"yahoo.com", "Yahoo Mail"},
    {"yahoodns.net", "Yahoo Mail"},
    {"yandex.net", "Yandex Mail"},
    {"zoho.com", "Zoho Mail"},
    {"zoho.eu", "Zoho Mail"},
    {"zoho.in", "Zoho Mail"},
    {"zohomail.com", "Zoho Mail"},
});
static_assert(std::ranges::is_sorted(kDomains, {}, &RelayDomain::domain));

}  // namespace

std::span<const RelayDomain> shipped_relay_domains() {
    return kDomains;
}

}  // namespace smtpwall::conf
