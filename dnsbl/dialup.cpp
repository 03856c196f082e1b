// Dynamic/residential PTR heuristics (tag `dialup`), and hosting names (tag generic-rdns).
//
// `dialup` means an end-user access line (residential, mobile, DSL/cable/fibre pools), not
// "generic reverse DNS": business lines of access ISPs, mail servers, and hosting, VPS and
// cloud machines are never dynamic, even when their names carry the address. A hosting
// name generated from the address sets DialupVerdict::generic instead.
//
// A PTR name is split into a host part and a registered domain; dynamic evidence is only
// looked for in the host part, so an ISP or provider *called* "dyni.net" or
// "dsl-provider.com" does not make its mail servers dynamic. Only exemptions, the domain
// lists below and the weak residential-ISP evidence (+20, never enough alone) look at the
// registered domain. Evidence is scored in tiers rather than matched by one big regex, and
// every signal carries the weight it added:
//
//   address evidence (only the strongest one counts)
//     +50  the client's own address spelled out in the host part: dotted, dashed, mixed,
//          reversed, zero-padded, concatenated zero-padded (001002003004), 32-bit integer,
//          hex (c0000207, c0-00-02-07); IPv6 as 32 hex digits, hextets, the interface
//          identifier, or reversed nibbles. Enough on its own.
//     +45  all four octets present, but spread over separate runs or shuffled
//          (host12-34.56-78, d53-64-35-171 for 64.53.171.35; at most 8 numbers in the name).
//     +40  the last three octets in a row, either order (148-42-229), or two glued into one
//          number followed by the third (37200-174).
//     +30  two octets glued into one 5-6 digit number, padded or not (j120189, x134136).
//     +25  the first three octets (the /24, shared with neighbours), or an IPv6 /64 prefix.
//     +15  some other IPv4 address spelled out (exactly four octets): the name is
//          generic but not about this client (NAT, stale DNS), so it counts little.
//     +10  two octets in a row: weak, two small numbers occur by chance.
//   access-technology tokens (whole words, word+digits, or two words run together)
//     +35  first access token (dsl, dyn, dhcp, ppp, pool, cable, cpe, ftth, gpon, ...)
//     +10  each further distinct access token, at most two more
//     +15  any weak token: user, client, home, bb, nat, subs, unknown, unassigned;
//          host/ip/cm/nas/dh only next to digits; telecom-style pN; "generated": a machine-made
//          piece of letters and digits (pcp04024417pcs, h234n2fls32o895, s01061cabc081bf83).
//          Structure only.
//     +15  "numbered": a token plus digits anywhere in the host part. A bare "dsl" or
//          "pool" host is a web page or an NTP pool; with digits it names a line.
//   residential ISP
//     +20  the registered domain is one under which a large access ISP names its customer
//          lines (comcast.net, t-ipconnect.de, chello.nl, ...; kResidentialIsps), or its
//          own label carries an access word (shawcable, telkomadsl, a3fiber, t-dialin;
//          kAccessInDomain). Weak, counted once: it turns a partial address (40+20) or a
//          generated label (15+15+20) into a verdict, never a bare name; the ISP's mail
//          and business names are exempted.
//   exemptions (only the strongest one counts, so several do not pile up)
//    -100  static / server / mail words (static, dedicated, server, srv, mail, mx, smtp,
//          mta, email, imap, relay, outbound, bounce, sender, ...; out, gw, mo, msa, pop
//          only in the first label), and infrastructure words that name a machine, not a
//          line (proxy, vpn, firewall, dmz, filter, spam, antispam, protect, deploy, cdn,
//          exch, exchange). Mail servers of large providers embed numbers
//          (mail-pl1-f193.google.com, a8-30.smtp-out.amazonses.com) but carry such words.
//    -100  business-class lines ("business:"): business, biz, b2b, sta, fixed, fixe,
//          fija, fixo, estatica, statik, empresarial, empresa(s), corporate, corp,
//          enterprise, kurumsal, leased, zakelijk, ... in the host part, or business /
//          static in the ISP's own label (comcastbusiness.net).
//    -100  registered domain of a large outbound mail provider ("provider:").
//    -100  registered domain of a hosting, VPS or cloud provider ("hosting:your-server.de",
//          amazonaws.com, googleusercontent.com, ovh.net, contaboserver.net, linode.com,
//          vultrusercontent.com, azure.com, oraclecloud.com, scw.cloud, pbiaas.com, ...).
//     -60  hosting words (compute, cloud, vps, hosting, colo, datacenter; web and www only
//          in the first label): cloud machines embed the address too. Also a hosting word
//          in the registered domain's own label (16clouds, webhostbox, rx-server,
//          hostinger: cloud, server, hosting, hosted, webhost, vps, dedicated, or a label
//          starting with host) when the domain is not on the hosting list.
//   operator patterns
//    +200  any operator-supplied PCRE2 pattern matching the host part: the operator's
//          explicit word outweighs every built-in exemption.
//
//   dynamic  <=>  score >= 50 (DialupDetector::kThreshold)
//   generic  <=>  not dynamic, a hosting/server word or hosting domain was seen, and the
//                 name carries at least two glued octets of the address (30+), or is
//                 numbered under a hosting domain.
//
// Cost: a handful of linear scans over at most 253 bytes, fixed-size arrays, binary
// searches in sorted tables; no regex unless the operator configured patterns (compiled
// once, JIT when available). The only allocations are the signals.

#include "dnsbl/dialup.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <new>
#include <stdexcept>

namespace smtpwall::dns {

namespace {

// ---- weights (see the table above) ----
constexpr int kWeightIpFull = 50;
constexpr int kWeightIpSplit = 45;
constexpr int kWeightIpPartial3 = 40;
constexpr int kWeightIpPrefix3 = 25;
constexpr int kWeightIpGlued2 = 30;
constexpr int kWeightV6Prefix = 25;
constexpr int kWeightIpPartial2 = 10;
constexpr int kWeightIpOther = 15;
constexpr int kWeightAccessToken = 35;
constexpr int kWeightExtraAccessToken = 10;
constexpr int kMaxExtraAccessTokens = 2;
constexpr int kWeightWeakToken = 15;
constexpr int kWeightNumbered = 15;
constexpr int kWeightResidentialIsp = 20;
constexpr int kWeightExempt = -100;
constexpr int kWeightProvider = -100;
constexpr int kWeightHosting = -60;
constexpr int kWeightHostingDomain = -100;
constexpr int kWeightBusiness = -100;
constexpr int kWeightOperatorPattern = 200;

constexpr std::size_t kMaxNameLength = 253;  // RFC 1035, without the trailing dot
constexpr std::size_t kMaxLabelLength = 63;
// A host part of at most 253 bytes has at most 127 segments or digit runs.
constexpr std::size_t kMaxPieces = 128;

// ---- character classes (the name is lower-cased ASCII by then) ----
constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) {
    return c >= 'a' && c <= 'z';
}
constexpr bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f');
}
constexpr bool is_sep(char c) {
    return c == '.' || c == '-' || c == '_';
}

// ---- vocabulary ----
enum class Kind : std::uint8_t {
    access,               // access technology or subscriber wording
    weak,                 // generic wording residential names often use
    weak_numbered,        // weak, but only counts next to digits (host7, ip-1-2-3-4)
    exempt,               // static line or server: never dynamic
    exempt_first_label,   // too short to trust anywhere but the first label (out-3, gw1)
    hosting,              // cloud/hosting machine: not residential
    hosting_first_label,  // web, www: a web server only as the first label (not web.vodafone.de)
    server,               // a server, not a line: exempt, and generic when the address is in it
    business,             // business-class (static) line of an access ISP: never dynamic
};

struct Word {
    std::string_view text;
    Kind kind;
};

// Sorted by text (checked below); looked up by binary search.
constexpr auto kWords = std::to_array<Word>({
    {"abo", Kind::access},  // French abonné, German Abo: subscriber (Orange, Free)
    {"abonne", Kind::access},
    {"access", Kind::weak},
    {"adsl", Kind::access},
    {"antispam", Kind::server},
    {"antivirus", Kind::server},
    {"apn", Kind::access},  // mobile access point name
    {"bb", Kind::weak},
    {"biz", Kind::business},
    {"biznes", Kind::business},
    {"bng", Kind::weak},
    {"bounce", Kind::exempt},
    {"bounces", Kind::exempt},
    {"bras", Kind::weak},
    {"bredband", Kind::access},
    {"broad", Kind::access},
    {"broadband", Kind::access},
    {"business", Kind::business},
    {"cable", Kind::access},
    {"cablemodem", Kind::access},
    {"catv", Kind::access},
    {"cdn", Kind::server},
    {"cgnat", Kind::weak},
    {"client", Kind::weak},
    {"cliente", Kind::access},
    {"clientes", Kind::access},
    {"clients", Kind::weak},
    {"cloud", Kind::hosting},
    {"cm", Kind::weak_numbered},  // cable modem
    {"colo", Kind::hosting},
    {"colocation", Kind::hosting},
    {"compute", Kind::hosting},
    {"corp", Kind::business},
    {"corporate", Kind::business},
    {"cpe", Kind::access},
    {"cust", Kind::access},
    {"customer", Kind::access},
    {"customers", Kind::access},
    {"datacenter", Kind::hosting},
    {"datacentre", Kind::hosting},
    {"dedi", Kind::server},
    {"dedicated", Kind::server},
    {"deploy", Kind::server},
    {"dh", Kind::weak_numbered},  // DHCP (dh207-99-51)
    {"dhcp", Kind::access},
    {"dial", Kind::access},
    {"dialin", Kind::access},
    {"dialup", Kind::access},
    {"dinamic", Kind::access},
    {"dinamica", Kind::access},
    {"dinamico", Kind::access},
    {"dip", Kind::access},  // dial-in pool (Deutsche Telekom)
    {"dmz", Kind::server},  // a company's perimeter network
    {"docsis", Kind::access},
    {"dsl", Kind::access},
    {"dyn", Kind::access},
    {"dynamic", Kind::access},
    {"dynamique", Kind::access},
    {"dynip", Kind::access},
    {"email", Kind::exempt},
    {"empresa", Kind::business},
    {"empresarial", Kind::business},
    {"empresas", Kind::business},
    {"enterprise", Kind::business},
    {"entreprise", Kind::business},
    {"entreprises", Kind::business},
    {"esmtp", Kind::exempt},
    {"estatic", Kind::business},
    {"estatica", Kind::business},
    {"estatico", Kind::business},
    {"exch", Kind::server},
    {"exchange", Kind::server},
    {"fiber", Kind::access},
    {"fibra", Kind::access},
    {"fibre", Kind::access},
    {"fija", Kind::business},
    {"fijo", Kind::business},
    {"filter", Kind::server},
    {"fios", Kind::access},
    {"firewall", Kind::server},
    {"firma", Kind::business},
    {"fixa", Kind::business},
    {"fixe", Kind::business},
    {"fixed", Kind::business},
    {"fixo", Kind::business},
    {"flets", Kind::access},
    {"fttb", Kind::access},
    {"fttc", Kind::access},
    {"ftth", Kind::access},
    {"fttp", Kind::access},
    {"fttx", Kind::access},
    {"gateway", Kind::exempt},
    {"geschaeftskunden", Kind::business},
    {"gpon", Kind::access},
    {"gprs", Kind::access},
    {"gw", Kind::exempt_first_label},
    {"hdsl", Kind::access},
    {"home", Kind::weak},
    {"host", Kind::weak_numbered},
    {"hosted", Kind::hosting},
    {"hosting", Kind::hosting},
    {"hsd", Kind::access},  // high-speed data (Comcast)
    {"hsdpa", Kind::access},
    {"imap", Kind::exempt},
    {"ip", Kind::weak_numbered},
    {"ipngn", Kind::access},  // NTT access network (OCN)
    {"kunde", Kind::access},
    {"kunden", Kind::access},
    {"kurumsal", Kind::business},
    {"leased", Kind::business},
    {"lns", Kind::weak},
    {"lte", Kind::access},
    {"mail", Kind::exempt},
    {"mailer", Kind::exempt},
    {"mailhost", Kind::exempt},
    {"mailout", Kind::exempt},
    {"mo", Kind::exempt_first_label},  // mail-out
    {"mobile", Kind::access},
    {"msa", Kind::exempt_first_label},
    {"mta", Kind::exempt},
    {"mx", Kind::exempt},
    {"nas", Kind::weak_numbered},  // network access server (dial-up)
    {"nat", Kind::weak},
    {"newsletter", Kind::exempt},
    {"out", Kind::exempt_first_label},
    {"outbound", Kind::exempt},
    {"outgoing", Kind::exempt},
    {"pool", Kind::access},
    {"pools", Kind::access},
    {"pop", Kind::exempt_first_label},  // a POP3 server; elsewhere a point of presence
    {"pop3", Kind::exempt},
    {"ppp", Kind::access},
    {"pppoa", Kind::access},
    {"pppoe", Kind::access},
    {"protect", Kind::server},
    {"proxy", Kind::server},
    {"relay", Kind::exempt},
    {"res", Kind::access},
    {"resi", Kind::access},
    {"residential", Kind::access},
    {"sdsl", Kind::access},
    {"sender", Kind::exempt},
    {"server", Kind::server},
    {"servers", Kind::server},
    {"smtp", Kind::exempt},
    {"spam", Kind::server},
    {"srv", Kind::server},
    {"sta", Kind::business},
    {"static", Kind::exempt},
    {"statik", Kind::business},
    {"statique", Kind::business},
    {"subs", Kind::weak},
    {"subscriber", Kind::access},
    {"subscribers", Kind::access},
    {"umts", Kind::access},
    {"unassigned", Kind::weak},
    {"unknown", Kind::weak},  // unnamed address: generic, but corporate nets say it too
    {"user", Kind::weak},
    {"users", Kind::weak},
    {"vds", Kind::hosting},
    {"vdsl", Kind::access},
    {"vpn", Kind::server},
    {"vps", Kind::hosting},
    {"web", Kind::hosting_first_label},
    {"wifi", Kind::access},
    {"wimax", Kind::access},
    {"wireless", Kind::access},
    {"wlan", Kind::access},
    {"www", Kind::hosting_first_label},
    {"xdsl", Kind::access},
    {"zakelijk", Kind::business},
});
static_assert(std::ranges::is_sorted(kWords, {}, &Word::text), "kWords must stay sorted");

// Exemption words that still count inside longer words (gmail, contaboserver, ipstatic):
// wrongly exempting costs one missed tag, wrongly tagging a mail server costs mail.
// "server" inside a word (contaboserver, stratoserver) names a server: see kServerInside.
constexpr std::array<std::string_view, 8> kExemptInside = {
    "mail", "smtp", "relay", "static", "outbound", "bounce", "mta", "business"};
constexpr std::string_view kServerInside = "server";

// Words that make a registered domain's own label a business line's (comcastbusiness).
constexpr std::array<std::string_view, 3> kBusinessInDomain = {"business", "static", "empresas"};

// Words that make a registered domain's own label a hosting company's (webhostbox,
// 16clouds, rx-server, hostinger). "host" only at the start of the label or as "webhost":
// afrihost and masterhost are access ISPs or say nothing. "colo" would match netcologne.
constexpr std::array<std::string_view, 7> kHostingInDomain = {
    "cloud", "server", "hosting", "hosted", "webhost", "vps", "dedicated"};
constexpr std::string_view kHostingDomainPrefix = "host";

// Access words that make a registered domain's own label an access ISP's (shawcable,
// telkomadsl, kabel-deutschland, upcbroadband, a3fiber, elisa-mobile, t-dialin): weak
// evidence, like kResidentialIsps, and never together with it. Never alone: the ISP's
// own web and mail hosts carry no address and mail words.
constexpr std::array<std::string_view, 10> kAccessInDomain = {
    "cable", "kabel", "catv", "dsl", "broadband", "bredband", "dialin", "fiber", "fibre", "mobile"};

// Second-level labels under a two-letter ccTLD that are public suffixes themselves
// (example.co.uk, example.com.au, ocn.ne.jp). Sorted.
constexpr auto kPublicSecondLevels =
    std::to_array<std::string_view>({"ac", "ad", "co", "com", "ed", "edu", "go", "gob", "gov", "gr",
                                     "lg", "ltd", "mil", "ne", "net", "nom", "or", "org", "plc"});
static_assert(std::ranges::is_sorted(kPublicSecondLevels));

// Registered domains of large outbound mail providers. A backstop only: their names are
// already exempted by mail/smtp/outbound words in nearly every case.
constexpr auto kProviderDomains = std::to_array<std::string_view>({
    "amazonses.com",       "apple.com",     "exacttarget.com", "facebook.com",   "google.com",
    "googlemail.com",      "hotmail.com",   "icloud.com",      "linkedin.com",   "mailgun.net",
    "mailgun.org",         "mailjet.com",   "mandrillapp.com", "mcdlv.net",      "mcsv.net",
    "messagingengine.com", "mimecast.com",  "mtasv.net",       "outlook.com",    "postmarkapp.com",
    "pphosted.com",        "protonmail.ch", "rsgsv.net",       "salesforce.com", "sendgrid.net",
    "sparkpostmail.com",   "yahoo.com",     "yahoodns.net",    "zoho.com",
});
static_assert(std::ranges::is_sorted(kProviderDomains));

// Registered domains of hosting, VPS, dedicated-server and cloud providers: their
// numbered and address-carrying names are servers (generic-rdns), never access lines.
constexpr auto kHostingDomains = std::to_array<std::string_view>({
    "1e100.net",
    "akamaitechnologies.com",
    "amazonaws.com",
    "arubacloud.com",
    "arubacloud.fr",
    "arubacloud.it",
    "azure.com",
    "bluehost.com",
    "choopa.net",
    "cloudapp.net",
    "cloudwaysapps.com",
    "colocrossing.com",
    "contabo.host",
    "contaboserver.net",
    "digitalocean.com",
    "dreamhost.com",
    "googleusercontent.com",
    "hetzner.cloud",
    "hetzner.com",
    "hetzner.de",
    "hosteurope.de",
    "hostgator.com",
    "hostwindsdns.com",
    "inmotionhosting.com",
    "ionos.com",
    "kundenserver.de",
    "leaseweb.com",
    "leaseweb.net",
    "linode.com",
    "linodeusercontent.com",
    "online.net",
    "oraclecloud.com",
    "oraclevcn.com",
    "ovh.ca",
    "ovh.com",
    "ovh.net",
    "ovh.us",
    "pbiaas.com",
    "poneytelecom.eu",
    "sakura.ne.jp",
    "scaleway.com",
    "scw.cloud",
    "secureserver.net",
    "sl-reverse.com",
    "softlayer.com",
    "stratoserver.net",
    "unifiedlayer.com",
    "vultr.com",
    "vultrusercontent.com",
    "websitewelcome.com",
    "your-server.de",
});
static_assert(std::ranges::is_sorted(kHostingDomains));

// Registered domains under which large access ISPs name their residential and mobile
// lines. Weak evidence only: it turns a machine-generated label or a partial address
// into a verdict, never a plain name (their mail and business names are exempted by
// words first).
constexpr auto kResidentialIsps = std::to_array<std::string_view>({
    "adelphia.net",
    "as13285.net",
    "asahi-net.or.jp",
    "att.net",
    "attbi.com",
    "bbox.fr",
    "bbtec.net",
    "bell.ca",
    "bellsouth.net",
    "bigpond.net.au",
    "btcentralplus.com",
    "centurylink.net",
    "cgocable.ca",
    "charter.com",
    "chello.nl",
    "chello.pl",
    "comcast.net",
    "cox.net",
    "dion.ne.jp",
    "frontiernet.net",
    "hinet.net",
    "kabel-deutschland.de",
    "mchsi.com",
    "myvzw.com",
    "ntl.com",
    "ocn.ne.jp",
    "optonline.net",
    "plala.or.jp",
    "proxad.net",
    "qwest.net",
    "rima-tde.net",
    "rogers.com",
    "rr.com",
    "sbcglobal.net",
    "sfr.net",
    "shawcable.net",
    "spectrum.com",
    "sympatico.ca",
    "t-dialin.net",
    "t-ipconnect.de",
    "telecomitalia.it",
    "telefonica.de",
    "telesp.net.br",
    "telia.com",
    "telkomadsl.co.za",
    "telus.net",
    "ttnet.com.tr",
    "veloxzone.com.br",
    "verizon.net",
    "videotron.ca",
    "virginm.net",
    "vodafone-ip.de",
    "vtr.net",
    "wanadoo.fr",
    "wideopenwest.com",
    "ziggo.nl",
});
static_assert(std::ranges::is_sorted(kResidentialIsps));

const Word* find_word(std::string_view text) {
    const auto it = std::ranges::lower_bound(kWords, text, {}, &Word::text);
    return it != kWords.end() && it->text == text ? &*it : nullptr;
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& sorted, std::string_view text) {
    return std::ranges::binary_search(sorted, text);
}

// ---- name normalisation and split ----

struct Name {
    std::array<char, kMaxNameLength> buf{};
    std::size_t size = 0;
    std::string_view view() const { return {buf.data(), size}; }
};

// Lower-cases and drops one trailing dot. False for anything that cannot be a DNS host
// name: empty, empty labels, over-long names or labels, bytes outside [a-z0-9._-].
bool normalize(std::string_view in, Name& out) {
    if (!in.empty() && in.back() == '.') in.remove_suffix(1);
    if (in.empty() || in.size() > kMaxNameLength) return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
            if (++label > kMaxLabelLength) return false;
        } else {
            return false;
        }
        out.buf[i] = c;
    }
    if (label == 0) return false;
    out.size = in.size();
    return true;
}

// Length of the host part: everything before the registered domain, which is the last
// two labels, or the last three under a public second level of a ccTLD. 0 if none.
std::size_t host_length(std::string_view name) {
    const std::size_t last = name.rfind('.');
    if (last == std::string_view::npos) return 0;
    const std::size_t second = name.rfind('.', last - 1);
    if (second == std::string_view::npos) return 0;
    std::size_t cut = second;
    const std::string_view tld = name.substr(last + 1);
    const std::string_view sld = name.substr(second + 1, last - second - 1);
    if (tld.size() == 2 && is_alpha(tld[0]) && is_alpha(tld[1]) &&
        contains(kPublicSecondLevels, sld)) {
        if (second == 0) return 0;
        const std::size_t third = name.rfind('.', second - 1);
        if (third == std::string_view::npos) return 0;
        cut = third;
    }
    return cut;
}

// ---- accumulating the verdict ----

struct Scorer {
    DialupVerdict verdict;
    int address = 0;  // strongest address evidence
    std::string_view address_form;
    bool address_reversed = false;
    bool address_padded = false;
    std::array<std::string_view, 8> access{};  // distinct access tokens seen
    std::size_t access_count = 0;
    bool weak = false;
    bool hosting = false;                     // a hosting/cloud/server word or domain was seen
    int exemption = 0;                        // strongest (most negative) exemption
    std::size_t exemption_signal = SIZE_MAX;  // the signal that carries it

    // Adds a signal unless one with the same rule is there already; its index, or
    // SIZE_MAX for a repeat.
    std::size_t signal(std::string rule, int weight) {
        if (std::ranges::find(verdict.signals, rule, &DialupSignal::rule) != verdict.signals.end())
            return SIZE_MAX;
        verdict.signals.push_back({std::move(rule), weight});
        return verdict.signals.size() - 1;
    }
    void address_evidence(int weight, std::string_view form, bool reversed = false,
                          bool padded = false) {
        if (weight <= address) return;
        address = weight;
        address_form = form;
        address_reversed = reversed;
        address_padded = padded;
    }
    void access_token(std::string_view word) {
        if (std::ranges::find(access.begin(), access.begin() + access_count, word) !=
            access.begin() + access_count)
            return;
        int weight = 0;
        if (access_count == 0)
            weight = kWeightAccessToken;
        else if (access_count <= kMaxExtraAccessTokens)
            weight = kWeightExtraAccessToken;
        if (access_count < access.size()) access[access_count++] = word;
        signal("token:" + std::string(word), weight);
    }
    void weak_token(std::string_view word) {
        if (signal("token:" + std::string(word), weak ? 0 : kWeightWeakToken) != SIZE_MAX)
            weak = true;
    }
    void exempt(int weight, std::string_view prefix, std::string_view word) {
        std::string rule(prefix);
        rule += word;
        if (weight < exemption) {
            const std::size_t i = signal(std::move(rule), weight);
            if (i == SIZE_MAX) return;
            if (exemption_signal != SIZE_MAX) verdict.signals[exemption_signal].weight = 0;
            exemption = weight;
            exemption_signal = i;
        } else {
            signal(std::move(rule), 0);
        }
    }
};

// ---- tokens ----

// A word counts as "numbered" when digits touch it, directly or across one separator:
// host86, ip-1-2-3-4, 4.ip.example.
bool numbered(std::string_view host, std::size_t begin, std::size_t end) {
    if (end < host.size()) {
        if (is_digit(host[end])) return true;
        if (is_sep(host[end]) && end + 1 < host.size() && is_digit(host[end + 1])) return true;
    }
    if (begin > 0) {
        if (is_digit(host[begin - 1])) return true;
        if (is_sep(host[begin - 1]) && begin > 1 && is_digit(host[begin - 2])) return true;
    }
    return false;
}

// Letters that are part of a hex blob (5b0a7c2e, bbe4a1b2) are not words.
bool inside_hex_blob(std::string_view host, std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i)
        if (!is_hex(host[i])) return false;
    std::size_t lo = begin;
    std::size_t hi = end;
    bool digit = false;
    while (lo > 0 && is_hex(host[lo - 1])) digit |= is_digit(host[--lo]);
    while (hi < host.size() && is_hex(host[hi])) digit |= is_digit(host[hi++]);
    return digit && hi - lo >= 8;
}

void apply_word(Scorer& s, const Word& w, bool is_numbered, bool in_first_label) {
    switch (w.kind) {
        case Kind::access:
            s.access_token(w.text);
            break;
        case Kind::weak_numbered:
            if (!is_numbered) break;
            [[fallthrough]];
        case Kind::weak:
            s.weak_token(w.text);
            break;
        case Kind::exempt_first_label:
            if (!in_first_label) break;
            [[fallthrough]];
        case Kind::exempt:
            s.exempt(kWeightExempt, "exempt:", w.text);
            break;
        case Kind::hosting_first_label:
            if (!in_first_label) break;
            [[fallthrough]];
        case Kind::hosting:
            s.hosting = true;
            s.exempt(kWeightHosting, "hosting:", w.text);
            break;
        case Kind::server:
            s.hosting = true;
            s.exempt(kWeightExempt, "exempt:", w.text);
            break;
        case Kind::business:
            s.exempt(kWeightBusiness, "business:", w.text);
            break;
    }
}

// A machine-generated piece: one run of letters and digits (between separators) such as
// pcp04024417pcs, h234n2fls32o895 or s01061cabc081bf83, i.e. at least three alternations
// of letters and digits with four digits or more, or letters glued to six digits or more.
// Structure only, so it is weak evidence: an ISP's own servers are named this way too.
bool generated_piece(std::string_view piece) {
    std::size_t runs = 0;
    std::size_t digits = 0;
    std::size_t longest_digits = 0;
    std::size_t current = 0;
    bool letters = false;
    for (std::size_t i = 0; i < piece.size(); ++i) {
        const bool d = is_digit(piece[i]);
        if (i == 0 || d != is_digit(piece[i - 1])) {
            ++runs;
            current = 0;
        }
        if (d) {
            ++digits;
            longest_digits = std::max(longest_digits, ++current);
        } else {
            letters = true;
        }
    }
    return letters && ((runs >= 3 && digits >= 4) || (runs >= 2 && longest_digits >= 6));
}

bool has_generated_piece(std::string_view host) {
    std::size_t begin = 0;
    for (std::size_t i = 0; i <= host.size(); ++i) {
        if (i == host.size() || is_sep(host[i])) {
            if (generated_piece(host.substr(begin, i - begin))) return true;
            begin = i + 1;
        }
    }
    return false;
}

void scan_words(std::string_view host, Scorer& s) {
    const std::size_t first_dot = std::min(host.find('.'), host.size());
    std::size_t i = 0;
    while (i < host.size()) {
        if (!is_alpha(host[i])) {
            ++i;
            continue;
        }
        const std::size_t begin = i;
        while (i < host.size() && is_alpha(host[i])) ++i;
        const std::size_t end = i;
        const std::string_view word = host.substr(begin, end - begin);
        const bool first_label = begin < first_dot;
        const bool is_numbered = numbered(host, begin, end);

        // 3g/4g/5g: the only tokens that start with a digit.
        if (word == "g" && begin >= 1 && host[begin - 1] >= '3' && host[begin - 1] <= '5' &&
            (begin < 2 || !is_digit(host[begin - 2]))) {
            static constexpr std::array<std::string_view, 3> kGenerations = {"3g", "4g", "5g"};
            const Word w{kGenerations[static_cast<std::size_t>(host[begin - 1] - '3')],
                         Kind::access};
            apply_word(s, w, true, first_label);
            continue;
        }
        // b2b: a business line, the one word with a digit inside.
        if (word == "b" && end + 1 < host.size() && host[end] == '2' && host[end + 1] == 'b' &&
            (end + 2 == host.size() || !is_alpha(host[end + 2])) &&
            (begin == 0 || !is_alpha(host[begin - 1]))) {
            s.exempt(kWeightBusiness, "business:", "b2b");
            i = end + 2;
            continue;
        }
        // Telecom-style pN (p5b0a7c2e, p1234567-ipngn): a lone p glued to digits.
        if (word == "p" && end < host.size() && is_digit(host[end])) {
            s.weak_token("p");
            continue;
        }
        if (inside_hex_blob(host, begin, end)) continue;

        if (const Word* w = find_word(word)) {
            apply_word(s, *w, is_numbered, first_label);
            continue;
        }
        // Two words run together: dynamicip, staticip, adslpool, smtpout, clientmail.
        // Both halves must be words, so customercare and poolside stay plain words.
        bool split = false;
        for (std::size_t k = 2; k + 2 <= word.size() && !split; ++k) {
            const Word* left = find_word(word.substr(0, k));
            const Word* right = left ? find_word(word.substr(k)) : nullptr;
            if (left && right) {
                apply_word(s, *left, is_numbered, first_label);
                apply_word(s, *right, is_numbered, first_label);
                split = true;
            }
        }
        if (split) continue;
        if (word.find(kServerInside) != std::string_view::npos) {
            s.hosting = true;
            s.exempt(kWeightExempt, "exempt:", kServerInside);
            continue;
        }
        for (const std::string_view inside : kExemptInside) {
            if (word.find(inside) != std::string_view::npos) {
                s.exempt(kWeightExempt, "exempt:", inside);
                break;
            }
        }
    }
}

// ---- address evidence ----

struct Segment {  // a piece of the host part between separators; may be empty
    std::uint16_t begin = 0;
    std::uint16_t end = 0;
    std::size_t size() const { return end - begin; }
};

struct DigitRun {
    std::uint16_t begin = 0;
    std::uint16_t end = 0;
    int octet = -1;       // value if it can be an octet (<= 3 digits, <= 255)
    bool padded = false;  // leading zero (007)
    bool linked = false;  // follows the previous run across exactly one separator
};

template <typename T>
struct Pieces {
    std::array<T, kMaxPieces> items{};
    std::size_t count = 0;
    void push(const T& t) {
        if (count < items.size()) items[count++] = t;
    }
    const T& operator[](std::size_t i) const { return items[i]; }
};

Pieces<Segment> split_segments(std::string_view host) {
    Pieces<Segment> out;
    std::size_t begin = 0;
    for (std::size_t i = 0; i <= host.size(); ++i) {
        if (i == host.size() || is_sep(host[i])) {
            out.push({static_cast<std::uint16_t>(begin), static_cast<std::uint16_t>(i)});
            begin = i + 1;
        }
    }
    return out;
}

Pieces<DigitRun> digit_runs(std::string_view host) {
    Pieces<DigitRun> out;
    std::size_t i = 0;
    while (i < host.size()) {
        if (!is_digit(host[i])) {
            ++i;
            continue;
        }
        DigitRun run;
        run.begin = static_cast<std::uint16_t>(i);
        int value = 0;
        while (i < host.size() && is_digit(host[i])) {
            if (i - run.begin < 3) value = value * 10 + (host[i] - '0');
            ++i;
        }
        run.end = static_cast<std::uint16_t>(i);
        if (run.end - run.begin <= 3 && value <= 255) run.octet = value;
        run.padded = run.end - run.begin > 1 && host[run.begin] == '0';
        if (out.count > 0) {
            const DigitRun& prev = out.items[out.count - 1];
            run.linked = run.begin == prev.end + 1 && is_sep(host[prev.end]);
        }
        out.push(run);
    }
    return out;
}

std::uint64_t decimal_value(std::string_view digits) {
    std::uint64_t v = 0;
    for (const char c : digits) v = v * 10 + static_cast<std::uint64_t>(c - '0');
    return v;
}

// Three-digit chunks of a zero-padded concatenation (126012034056), or nothing.
template <std::size_t N>
bool padded_chunks(std::string_view digits, std::array<int, N>& out) {
    if (digits.size() != 3 * N) return false;
    for (std::size_t i = 0; i < N; ++i) {
        out[i] = static_cast<int>(decimal_value(digits.substr(3 * i, 3)));
        if (out[i] > 255) return false;
    }
    return true;
}

// Where `hex` occurs in the segment as a whole hex number: not followed by another hex
// digit and not preceded by a decimal digit (a letter prefix like the p of p5b0a7c2e is
// fine).
bool segment_has_hex(std::string_view host, const Segment& seg, std::string_view hex,
                     bool at_end_only = false) {
    const std::string_view text = host.substr(seg.begin, seg.size());
    for (std::size_t pos = text.find(hex); pos != std::string_view::npos;
         pos = text.find(hex, pos + 1)) {
        const std::size_t end = pos + hex.size();
        if (end < text.size() && (at_end_only || is_hex(text[end]))) continue;
        if (pos > 0 && (is_digit(text[pos - 1]) || (at_end_only && is_hex(text[pos - 1]))))
            continue;
        return true;
    }
    return false;
}

std::string_view separator_form(std::string_view host, const DigitRun* runs, std::size_t n) {
    char sep = 0;
    for (std::size_t i = 1; i < n; ++i) {
        const char c = host[runs[i - 1].end];
        if (sep == 0) sep = c;
        if (c != sep) return "mixed";
    }
    return sep == '.' ? "dotted" : sep == '-' ? "dashed" : "mixed";
}

template <std::size_t N>
bool same(const int* got, const std::array<int, N>& want, std::size_t from, std::size_t n,
          bool reversed) {
    for (std::size_t i = 0; i < n; ++i) {
        const int w = reversed ? want[from + n - 1 - i] : want[from + i];
        if (got[i] != w) return false;
    }
    return true;
}

// Whether `digits` is `a` followed by `b`, both zero-padded to three digits or neither.
bool glued(std::string_view digits, int a, int b) {
    std::array<char, 8> buf{};
    for (const bool pad : {true, false}) {
        std::size_t n = 0;
        for (const int x : {a, b}) {
            if (pad || x >= 100) buf[n++] = static_cast<char>('0' + x / 100);
            if (pad || x >= 10) buf[n++] = static_cast<char>('0' + x / 10 % 10);
            buf[n++] = static_cast<char>('0' + x % 10);
        }
        if (std::string_view(buf.data(), n) == digits) return true;
    }
    return false;
}

void find_v4(std::string_view host, const IpAddress& client, const Pieces<Segment>& segments,
             Scorer& s) {
    const std::array<int, 4> o = {client.bytes[0], client.bytes[1], client.bytes[2],
                                  client.bytes[3]};
    const Pieces<DigitRun> runs = digit_runs(host);

    // Runs of numbers joined by single separators: 1-2-3-4, 4.3.2.1, mar92-1-82-65-12-34.
    std::array<int, kMaxPieces> vals{};
    for (std::size_t g = 0; g < runs.count;) {
        std::size_t ge = g + 1;
        while (ge < runs.count && runs[ge].linked) ++ge;
        const std::size_t n = ge - g;
        for (std::size_t i = 0; i < n; ++i) vals[i] = runs[g + i].octet;
        for (std::size_t w = 0; w + 2 <= n; ++w) {
            const int* v = vals.data() + w;
            for (const bool rev : {false, true}) {
                if (w + 4 <= n && same(v, o, 0, 4, rev)) {
                    bool padded = false;
                    for (std::size_t i = 0; i < 4; ++i) padded |= runs[g + w + i].padded;
                    s.address_evidence(kWeightIpFull, separator_form(host, &runs.items[g + w], 4),
                                       rev, padded);
                }
                // Three in a row: the last three octets (an ISP numbering its lines), or
                // the /24 (shared by neighbours, so weaker).
                if (w + 3 <= n && same(v, o, 1, 3, rev))
                    s.address_evidence(kWeightIpPartial3, "partial3");
                if (w + 3 <= n && same(v, o, 0, 3, rev))
                    s.address_evidence(kWeightIpPrefix3, "prefix3");
                for (std::size_t k = 0; k + 2 <= 4; ++k)
                    if (same(v, o, k, 2, rev)) s.address_evidence(kWeightIpPartial2, "partial2");
            }
        }
        // A different address: exactly four octets, the first one plausible.
        if (n == 4 && vals[0] >= 1 && vals[0] <= 223 &&
            std::all_of(vals.begin(), vals.begin() + 4, [](int x) { return x >= 0; }))
            s.address_evidence(kWeightIpOther, "other");
        g = ge;
    }

    // Single digit runs: concatenated zero-padded octets and the 32-bit integer.
    const std::uint32_t as_integer =
        (static_cast<std::uint32_t>(o[0]) << 24) | (static_cast<std::uint32_t>(o[1]) << 16) |
        (static_cast<std::uint32_t>(o[2]) << 8) | static_cast<std::uint32_t>(o[3]);
    for (std::size_t r = 0; r < runs.count; ++r) {
        const std::string_view digits = host.substr(runs[r].begin, runs[r].end - runs[r].begin);
        std::array<int, 4> four{};
        std::array<int, 3> three{};
        if (padded_chunks(digits, four)) {
            if (same(four.data(), o, 0, 4, false))
                s.address_evidence(kWeightIpFull, "padded-concat");
            else if (same(four.data(), o, 0, 4, true))
                s.address_evidence(kWeightIpFull, "reversed-padded-concat");
            else if (four[0] >= 1 && four[0] <= 223)
                s.address_evidence(kWeightIpOther, "other");
        } else if (padded_chunks(digits, three)) {
            if (same(three.data(), o, 1, 3, false) || same(three.data(), o, 1, 3, true))
                s.address_evidence(kWeightIpPartial3, "partial3");
        } else if (digits.size() >= 8 && digits.size() <= 10 && digits[0] != '0' &&
                   decimal_value(digits) == as_integer) {
            s.address_evidence(kWeightIpFull, "integer");
        }
    }

    // All four octets, but spread over separate runs or shuffled: host12-34-dynamic.56-79,
    // d53-64-35-171 for 64.53.171.35. Names with many numbers say nothing this way.
    std::size_t octet_runs = 0;
    for (std::size_t r = 0; r < runs.count; ++r) octet_runs += runs[r].octet >= 0;
    if (octet_runs >= 4 && octet_runs <= 8) {
        std::array<bool, kMaxPieces> used{};
        std::size_t found = 0;
        for (const int want : o) {
            for (std::size_t r = 0; r < runs.count; ++r) {
                if (!used[r] && runs[r].octet == want) {
                    used[r] = true;
                    ++found;
                    break;
                }
            }
        }
        if (found == 4) s.address_evidence(kWeightIpSplit, "split");
    }

    // Two octets glued into one number (j120189, sagami134136, 37200 for .37.200.), padded
    // or not, forwards or backwards; with the next octet in the following run it is three
    // (wgpon-37200-174).
    for (std::size_t r = 0; r < runs.count; ++r) {
        const std::size_t len = runs[r].end - runs[r].begin;
        if (len < 5 || len > 6) continue;
        const std::string_view digits = host.substr(runs[r].begin, len);
        for (std::size_t i = 0; i + 1 < 4; ++i) {
            for (const bool rev : {false, true}) {
                const int first = rev ? o[i + 1] : o[i];
                const int second = rev ? o[i] : o[i + 1];
                if (!glued(digits, first, second)) continue;
                const int after = rev ? (i >= 1 ? o[i - 1] : -1) : (i + 2 < 4 ? o[i + 2] : -1);
                const bool third = r + 1 < runs.count && runs[r + 1].linked && after >= 0 &&
                                   runs[r + 1].octet == after;
                s.address_evidence(third ? kWeightIpPartial3 : kWeightIpGlued2,
                                   third ? "glued3" : "glued2");
            }
        }
    }

    // Hex: c0000207, p5b0a7c2e, and the byte-reversed form.
    static constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 8> fwd{};
    std::array<char, 8> rev{};
    for (std::size_t i = 0; i < 4; ++i) {
        const auto b = static_cast<unsigned>(o[i]);
        fwd[2 * i] = kHex[b >> 4];
        fwd[2 * i + 1] = kHex[b & 15];
        rev[6 - 2 * i] = kHex[b >> 4];
        rev[7 - 2 * i] = kHex[b & 15];
    }
    // Two-hex-digit segments in a row: c0-00-02-07.
    std::array<int, kMaxPieces> hexbytes{};
    std::size_t hex_run = 0;
    for (std::size_t i = 0; i < segments.count; ++i) {
        const Segment& seg = segments[i];
        if (seg.size() >= 8) {
            if (segment_has_hex(host, seg, {fwd.data(), fwd.size()}))
                s.address_evidence(kWeightIpFull, "hex");
            else if (segment_has_hex(host, seg, {rev.data(), rev.size()}))
                s.address_evidence(kWeightIpFull, "reversed-hex");
        }
        const bool byte = seg.size() == 2 && is_hex(host[seg.begin]) && is_hex(host[seg.begin + 1]);
        if (!byte) {
            hex_run = 0;
            continue;
        }
        const auto nibble = [](char c) { return is_digit(c) ? c - '0' : c - 'a' + 10; };
        hexbytes[hex_run++] = nibble(host[seg.begin]) * 16 + nibble(host[seg.begin + 1]);
        if (hex_run >= 4) {
            const int* v = hexbytes.data() + hex_run - 4;
            if (same(v, o, 0, 4, false) || same(v, o, 0, 4, true))
                s.address_evidence(kWeightIpFull, "hex-dashed");
        }
    }
}

void find_v6(std::string_view host, const IpAddress& client, const Pieces<Segment>& segments,
             Scorer& s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 32> hex{};
    for (std::size_t i = 0; i < 16; ++i) {
        hex[2 * i] = kHex[client.bytes[i] >> 4];
        hex[2 * i + 1] = kHex[client.bytes[i] & 15];
    }
    const std::string_view full{hex.data(), hex.size()};
    const std::string_view iid = full.substr(16);
    std::array<int, 8> h{};
    for (std::size_t i = 0; i < 8; ++i) h[i] = (client.bytes[2 * i] << 8) | client.bytes[2 * i + 1];

    // Hextets joined by single separators (2001-db8-1-2-3-4-5-6, with one -- for ::), and
    // one-nibble labels (reversed nibble names like ip6.arpa: d.8.c.7.b.6...).
    std::array<int, kMaxPieces> group{};
    std::size_t n = 0;
    std::size_t gap = SIZE_MAX;  // index in group where an empty segment stood
    std::array<char, kMaxPieces> nibbles{};
    std::size_t nibble_count = 0;

    const auto check_group = [&] {
        if (gap != SIZE_MAX && n < 8) {  // expand "::" to the zeros it stands for
            std::array<int, 8> expanded{};
            const std::size_t zeros = 8 - n;
            for (std::size_t i = 0, j = 0; i < n; ++i) {
                if (i == gap) j += zeros;
                expanded[j++] = group[i];
            }
            if (same(expanded.data(), h, 0, 8, false))
                s.address_evidence(kWeightIpFull, "v6-hextets");
        }
        for (std::size_t w = 0; w < n; ++w) {
            const int* v = group.data() + w;
            const std::size_t left = n - w;
            if (left >= 8 && same(v, h, 0, 8, false))
                s.address_evidence(kWeightIpFull, "v6-hextets");
            if (left >= 4 && same(v, h, 4, 4, false)) s.address_evidence(kWeightIpFull, "v6-iid");
            if (left >= 4 && same(v, h, 0, 4, false))
                s.address_evidence(kWeightV6Prefix, "v6-prefix");
            if (left >= 3 && same(v, h, 5, 3, false))
                s.address_evidence(kWeightIpPartial3, "partial3");
            if (left >= 2 && same(v, h, 6, 2, false))
                s.address_evidence(kWeightIpPartial2, "partial2");
        }
        n = 0;
        gap = SIZE_MAX;
    };
    const auto check_nibbles = [&] {
        // Reversed nibbles, least significant first: at least the interface identifier.
        std::size_t matched = 0;
        while (matched < nibble_count && matched < 32 && nibbles[matched] == hex[31 - matched])
            ++matched;
        if (matched >= 16) s.address_evidence(kWeightIpFull, "v6-nibbles");
        nibble_count = 0;
    };

    for (std::size_t i = 0; i < segments.count; ++i) {
        const Segment& seg = segments[i];
        const std::string_view text = host.substr(seg.begin, seg.size());
        if (text.size() >= 16) {
            if (segment_has_hex(host, seg, full))
                s.address_evidence(kWeightIpFull, "v6-hex");
            else if (segment_has_hex(host, seg, iid, true))
                s.address_evidence(kWeightIpFull, "v6-iid");
        }
        const bool hextet = !text.empty() && text.size() <= 4 && std::ranges::all_of(text, is_hex);
        if (hextet) {
            int v = 0;
            for (const char c : text) v = v * 16 + (is_digit(c) ? c - '0' : c - 'a' + 10);
            group[n++] = v;
        } else if (text.empty() && n > 0 && gap == SIZE_MAX && seg.end < host.size() &&
                   host[seg.end] == '-') {
            gap = n;  // "--" inside a run of hextets stands for "::"
        } else {
            check_group();
        }
        const bool nibble =
            text.size() == 1 && is_hex(text[0]) && (seg.end == host.size() || host[seg.end] == '.');
        if (nibble && nibble_count < nibbles.size())
            nibbles[nibble_count++] = text[0];
        else if (!nibble)
            check_nibbles();
    }
    check_group();
    check_nibbles();
}

}  // namespace

// ---- operator patterns ----

DialupDetector::DialupDetector(std::vector<Pattern> extra_patterns)
    : patterns_(std::move(extra_patterns)) {}

DialupVerdict DialupDetector::classify(const IpAddress& client_in,
                                       std::string_view ptr_name) const {
    DialupVerdict out;
    Name name;
    if (!normalize(ptr_name, name)) {
        out.signals.push_back({"invalid-name", 0});
        return out;
    }
    const std::string_view full = name.view();
    const std::size_t host_len = host_length(full);
    if (host_len == 0) {
        out.signals.push_back({"no-host-part", 0});
        return out;
    }
    const std::string_view host = full.substr(0, host_len);
    const std::string_view domain = full.substr(host_len + 1);

    Scorer s;
    s.verdict.signals.reserve(8);
    const IpAddress client = client_in.unmapped();
    const Pieces<Segment> segments = split_segments(host);
    if (client.family == Family::v4)
        find_v4(host, client, segments, s);
    else
        find_v6(host, client, segments, s);
    if (s.address > 0) {
        std::string rule = "ip-in-name:";
        if (s.address_reversed) rule += "reversed-";
        if (s.address_padded) rule += "padded-";
        rule += s.address_form;
        s.signal(std::move(rule), s.address);
    }

    scan_words(host, s);
    if (has_generated_piece(host)) s.weak_token("generated");
    if (contains(kProviderDomains, domain)) s.exempt(kWeightProvider, "provider:", domain);
    if (contains(kHostingDomains, domain)) {
        s.hosting = true;
        s.exempt(kWeightHostingDomain, "hosting:", domain);
    }
    // The ISP's own label may say business (comcastbusiness.net): an exemption only, so
    // looking inside the registered domain is safe here.
    const std::string_view label = domain.substr(0, domain.find('.'));
    for (const std::string_view word : kBusinessInDomain) {
        if (label.find(word) != std::string_view::npos) {
            s.exempt(kWeightBusiness, "business:", domain);
            break;
        }
    }
    const bool hosting_label = label.starts_with(kHostingDomainPrefix) ||
                               std::ranges::any_of(kHostingInDomain, [&](std::string_view word) {
                                   return label.find(word) != std::string_view::npos;
                               });
    if (hosting_label && !contains(kHostingDomains, domain)) {
        s.hosting = true;
        s.exempt(kWeightHosting, "hosting:", domain);
    }
    bool isp = contains(kResidentialIsps, domain);
    if (isp) {
        s.signal("isp:" + std::string(domain), kWeightResidentialIsp);
    } else if (std::ranges::any_of(kAccessInDomain, [&](std::string_view word) {
                   return label.find(word) != std::string_view::npos;
               })) {
        isp = true;
        s.signal("isp-label:" + std::string(domain), kWeightResidentialIsp);
    }

    int score = s.address;
    if (isp) score += kWeightResidentialIsp;
    if (s.access_count > 0)
        score += kWeightAccessToken +
                 kWeightExtraAccessToken *
                     std::min<int>(static_cast<int>(s.access_count) - 1, kMaxExtraAccessTokens);
    if (s.weak) score += kWeightWeakToken;
    if ((s.access_count > 0 || s.weak) && std::ranges::any_of(host, is_digit)) {
        score += kWeightNumbered;
        s.signal("numbered", kWeightNumbered);
    }
    score += s.exemption;

    bool matched = false;
    for (const Pattern& p : patterns_) {
        const auto result = p.match(host);
        if (result == Pattern::Match::yes) {
            s.signal("pattern:" + p.text(), matched ? 0 : kWeightOperatorPattern);
            matched = true;
        } else if (result == Pattern::Match::error) {
            s.signal("pattern-error:" + p.text(), 0);  // e.g. match limit hit: no match
        }
    }
    if (matched) score += kWeightOperatorPattern;

    s.verdict.score = score;
    s.verdict.dynamic = score >= kThreshold;
    // A server generated from the address (or numbered under a hosting domain).
    s.verdict.generic = !s.verdict.dynamic && s.hosting &&
                        (s.address >= kWeightIpGlued2 || (contains(kHostingDomains, domain) &&
                                                          std::ranges::any_of(host, is_digit)));
    return std::move(s.verdict);
}

std::string DialupVerdict::summary() const {
    std::string out;
    for (const DialupSignal& sig : signals) {
        if (!out.empty()) out += ',';
        out += sig.rule;
        if (sig.weight != 0) {
            out += sig.weight > 0 ? "(+" : "(";
            out += std::to_string(sig.weight);
            out += ')';
        }
    }
    return out;
}

}  // namespace smtpwall::dns
