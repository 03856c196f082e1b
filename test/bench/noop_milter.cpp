// A milter that does nothing, the baseline of test/bench/mta_bench.sh (the budget:
// smtpwall must keep >= 95% of the throughput of Postfix + a no-op milter).
//
//   noop_milter SOCKET [all|lean|same]
//
//   all   (default) registers every callback and negotiates nothing: the MTA sends
//         every stage (headers, body chunks included) and each one gets CONTINUE.
//   lean  registers the callbacks smtpwall registers and skips what it skips (no
//         headers, end of headers, body or unknown commands; rejected recipients
//         shown), with a reply to every other stage: smtpwall's conversation before
//         it negotiated its own (issue 17), a no-op milter done cheaply.
//   same  smtpwall's conversation now, with its default settings: as lean, plus no
//         reply at HELO and MAIL (SMFIP_NR_HELO, SMFIP_NR_MAIL). All smtpwall does with
//         the MTA, minus its own work. (smtpwall also settles a message at DATA with
//         SMFIS_ACCEPT when delivered mail earns no credit: [shared_relays] good_mail
//         and [escalation] good_mail_ratio 0.)
//
// SOCKET is a libmilter connection spec ("unix:/path"); the socket is created with
// mode 0666 so that Postfix's smtpd can connect. SIGTERM stops it (libmilter).
#include <libmilter/mfapi.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>

namespace {

bool g_same = false;  // smtpwall's conversation now (see above)

sfsistat on_connect(SMFICTX*, char*, _SOCK_ADDR*) {
    return SMFIS_CONTINUE;
}
sfsistat on_helo(SMFICTX*, char*) {
    return g_same ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}
sfsistat on_envfrom(SMFICTX*, char**) {
    return g_same ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}
sfsistat on_envrcpt(SMFICTX*, char**) {
    return SMFIS_CONTINUE;
}
sfsistat on_header(SMFICTX*, char*, char*) {
    return SMFIS_CONTINUE;
}
sfsistat on_eoh(SMFICTX*) {
    return SMFIS_CONTINUE;
}
sfsistat on_body(SMFICTX*, unsigned char*, size_t) {
    return SMFIS_CONTINUE;
}
sfsistat on_eom(SMFICTX*) {
    return SMFIS_CONTINUE;
}
sfsistat on_abort(SMFICTX*) {
    return SMFIS_CONTINUE;
}
sfsistat on_close(SMFICTX*) {
    return SMFIS_CONTINUE;
}
sfsistat on_unknown(SMFICTX*, const char*) {
    return SMFIS_CONTINUE;
}
sfsistat on_data(SMFICTX*) {
    return SMFIS_CONTINUE;
}

// lean and same: the protocol steps smtpwall asks for (milter/milter_glue.cpp,
// on_negotiate; libmilter always offers the no-reply flags).
sfsistat on_negotiate(SMFICTX*, unsigned long, unsigned long steps, unsigned long, unsigned long,
                      unsigned long* want_actions, unsigned long* want_steps,
                      unsigned long* want_unused2, unsigned long* want_unused3) {
    constexpr unsigned long kSkip = SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOUNKNOWN;
    *want_actions = 0;
    *want_steps = steps & (kSkip | SMFIP_RCPT_REJ);
    if (g_same) *want_steps |= steps & (SMFIP_NR_HELO | SMFIP_NR_MAIL);
    *want_unused2 = 0;
    *want_unused3 = 0;
    return SMFIS_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
    g_same = argc == 3 && std::strcmp(argv[2], "same") == 0;
    const bool lean = g_same || (argc == 3 && std::strcmp(argv[2], "lean") == 0);
    if (argc < 2 || argc > 3 || (argc == 3 && !lean && std::strcmp(argv[2], "all") != 0)) {
        std::fprintf(stderr, "usage: noop_milter SOCKET [all|lean|same]\n");
        return 2;
    }
    smfiDesc desc{};
    desc.xxfi_name = const_cast<char*>(g_same ? "noop-same" : lean ? "noop-lean" : "noop");
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = 0;
    desc.xxfi_connect = on_connect;
    desc.xxfi_helo = on_helo;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_data = on_data;
    desc.xxfi_eom = on_eom;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;
    if (lean) {
        desc.xxfi_negotiate = on_negotiate;
    } else {
        desc.xxfi_header = on_header;
        desc.xxfi_eoh = on_eoh;
        desc.xxfi_body = on_body;
        desc.xxfi_unknown = on_unknown;
    }
    if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE) {
        std::fprintf(stderr, "noop_milter: libmilter refused %s\n", argv[1]);
        return 1;
    }
    const mode_t old_mask = ::umask(0111);  // smtpd (user postfix) must be able to connect
    const int opened = smfi_opensocket(true);
    ::umask(old_mask);
    if (opened == MI_FAILURE) {
        std::fprintf(stderr, "noop_milter: cannot open %s\n", argv[1]);
        return 1;
    }
    std::printf("noop_milter %s listening on %s\n",
                g_same ? "same"
                : lean ? "lean"
                       : "all",
                argv[1]);
    std::fflush(stdout);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
