#!/usr/bin/env python3
"""Exact replies of smtpwall-milter, byte for byte, where miltertest cannot look.

miltertest shows a reply set with smfi_setreply() only as SMFIR_REPLYCODE
('y'); its text (the SMTP code, the enhanced code and the words) is what the
MTA sends to the client. This speaks the milter protocol as an MTA would
(Postfix milter_protocol = 6) and asserts each reply completely, plus what
miltertest cannot send at all: the negotiated macro lists, no HELO, a NUL in
the HELO, HELO strings far beyond miltertest's 1 KiB buffer, and malformed
packets the milter must shrug off.

usage: milter_replies.py SOCKET
Prints "ok - ..." per check, "expect-session ADDR" per session that reached
CONNECT (the runner counts the milter's session lines), "PASS replies" at the end.
"""
import socket
import struct
import sys

SOCK = sys.argv[1]

SMFIF_SETSYMLIST = 0x100
SMFIP = {"NOHDRS": 0x20, "NOBODY": 0x10, "NOEOH": 0x40, "NOUNKNOWN": 0x100, "RCPT_REJ": 0x800,
         "NR_HELO": 0x2000, "NR_MAIL": 0x4000}
POSTFIX_V6_EVENTS = 0x1FFFFF
ALL_ACTIONS = 0x1FF


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


class Milter:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(15)
        self.s.connect(SOCK)

    def send(self, cmd, data=b""):
        try:
            self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the milter hung up: reply() says so

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def reply(self):
        head = self._recv(5)
        if head is None:
            return None
        (length,) = struct.unpack(">I", head[:4])
        data = self._recv(length - 1) if length > 1 else b""
        return head[4:5], data

    def ask(self, cmd, data=b""):
        self.send(cmd, data)
        return self.reply()

    def close(self):
        self.s.close()


def cstr(*parts):
    return b"".join(p + b"\0" for p in parts)


def show(r):
    if r is None:
        return "connection closed"
    cmd, data = r
    if cmd == b"y":
        return "y " + data.rstrip(b"\0").decode(errors="replace")
    return cmd.decode(errors="replace") + ((" " + repr(data)) if data else "")


def expect(r, want, what):
    got = show(r)
    if got != want:
        fail(f"{what}: got {got!r}, expected {want!r}")


def negotiate(m, version=6, actions=ALL_ACTIONS, events=POSTFIX_V6_EVENTS):
    r = m.ask(b"O", struct.pack(">III", version, actions, events))
    if r is None or r[0] != b"O":
        fail(f"negotiation (version {version}): {show(r)}")
    return r[1]


# HELO and MAIL are negotiated without a reply (SMFIP_NR_HELO, SMFIP_NR_MAIL), as
# Postfix sends them: a reply the milter sent anyway would be read as the next one.
def connect(addr, name=None, helo=None, macros=True, version=6, events=POSTFIX_V6_EVENTS):
    m = Milter()
    negotiate(m, version=version, events=events)
    # An MTA without the no-reply flags gets the CONTINUE libmilter sends for us.
    m.replies_facts = (events & (SMFIP["NR_HELO"] | SMFIP["NR_MAIL"])) == 0
    family = b"6" if ":" in addr else b"4"
    name = name or f"[{addr}]"
    if macros:
        m.send(b"D", b"C" + cstr(b"{client_addr}", addr.encode(), b"{client_name}", name.encode(),
                                  b"{daemon_addr}", b"192.0.2.1", b"j", b"mx.smtpwall.test"))
    expect(m.ask(b"C", name.encode() + b"\0" + family + struct.pack(">H", 25000) + addr.encode() + b"\0"),
           "c", f"connect {addr}")
    if helo is not None:
        m.send(b"H", helo + b"\0")
        if m.replies_facts:
            expect(m.reply(), "c", f"helo from {addr}")
    return m


def mail(m, sender=b"<sender@example.net>"):
    m.send(b"M", cstr(sender))
    if m.replies_facts:
        expect(m.reply(), "c", "mail")


def rcpt(m, rcpt):
    return m.ask(b"R", cstr(rcpt))


def quit(m, addr):
    m.send(b"Q")
    m.close()
    print("expect-session " + addr)


def ok(what):
    print("ok - " + what, flush=True)


BAD_HELO = "y 550 5.7.1 Helo command rejected: HELO/EHLO must name a valid fully-qualified host"

# --- Negotiation: what smtpwall asks Postfix 6 for --------------------------------
m = Milter()
data = negotiate(m)
version, actions, events = struct.unpack(">III", data[:12])
if version != 6:
    fail(f"negotiated version {version}, expected 6")
if actions != SMFIF_SETSYMLIST:
    fail(f"requested actions 0x{actions:x}, expected only SMFIF_SETSYMLIST (0x100)")
want_events = sum(SMFIP.values())
if events != want_events:
    fail(f"requested steps 0x{events:x}, expected 0x{want_events:x} ({' '.join(SMFIP)})")
lists, rest = {}, data[12:]
while rest:
    (stage,) = struct.unpack(">I", rest[:4])
    value, _, rest = rest[4:].partition(b"\0")
    lists[stage] = value.decode()
want_lists = {
    0: "{client_addr} {client_name} {client_ptr} {client_resolve} {daemon_addr} j",
    2: "{auth_authen} {i}",
    3: "{rcpt_mailer} {rcpt_host} {rcpt_addr}",
}
if lists != want_lists:
    fail(f"macro lists {lists}, expected {want_lists}")
m.close()
ok("negotiation: version 6, SMFIF_SETSYMLIST only, steps 0x%x, macro lists %s" % (events, lists))

# --- Reply texts at RCPT and DATA ---------------------------------------------------
m = connect("192.0.2.81", helo=b"localhost")
mail(m)
expect(rcpt(m, b"<user@example.org>"), BAD_HELO, "bad HELO")
expect(rcpt(m, b"<postmaster@example.org>"), "c", "postmaster after a bad HELO")
quit(m, "192.0.2.81")
ok("bad HELO: " + BAD_HELO)

m = connect("192.0.2.82", helo=b"client.example.net")
mail(m)
expect(rcpt(m, b"<user@example.org>"), "c", "real recipient")
expect(rcpt(m, b"<trap@example.org>"), "y 550 5.1.1 Recipient address rejected: User unknown", "spamtrap")
expect(rcpt(m, b"<other@example.org>"), "y 550 5.7.1 Rejected by policy", "recipient after a trap")
expect(m.ask(b"T"), "y 550 5.7.1 Message rejected by policy", "DATA of a message that reached a trap")
quit(m, "192.0.2.82")
ok("spamtrap: 550 5.1.1 User unknown, then 550 5.7.1 at RCPT and DATA, no trap named")

m = connect("192.0.2.82", helo=b"client.example.net")
mail(m)
expect(rcpt(m, b"<user@example.org>"), "y 554 5.7.1 Service unavailable; client blocked by policy", "banned")
expect(rcpt(m, b"<postmaster@example.org>"), "c", "postmaster from a banned client")
quit(m, "192.0.2.82")
ok("banned client's next session: 554 5.7.1")

m = connect("192.0.2.62", name="client62.example.net", helo=b"client.example.net")
mail(m)
expect(rcpt(m, b"<user@example.org>"),
       "y 550 5.7.1 Service unavailable; client [192.0.2.62] blocked by policy", "listed client")
quit(m, "192.0.2.62")
ok("DNSBL-listed client: 550 5.7.1, the zone not named")

m = connect("fe80::2", helo=b"client.example.net")
mail(m)
expect(rcpt(m, b"<user@example.org>"),
       "y 451 4.7.1 Temporary DNS failure while checking your host; please try again later",
       "client whose reverse lookup is refused")
expect(rcpt(m, b"<postmaster@example.org>"), "c", "postmaster during a DNS failure")
quit(m, "fe80::2")
ok("temporary DNS failure: 451 4.7.1, never 5xx")

# --- HELO strings miltertest cannot send ----------------------------------------------
for addr, helo, label in [
    ("192.0.2.83", b"bad\0host.example.net", "a NUL inside the HELO"),
    ("192.0.2.84", b"a" * 4000 + b".example.net", "4,012 characters"),
    ("192.0.2.85", (b"a" * 63 + b".") * 900 + b"example.net", "57,611 characters"),
]:
    m = connect(addr, helo=helo)
    mail(m)
    expect(rcpt(m, b"<user@example.org>"), BAD_HELO, "HELO with " + label)
    quit(m, addr)
    ok("HELO with " + label + ": rejected at RCPT")

m = connect("192.0.2.86")
mail(m)
expect(rcpt(m, b"<user@example.org>"), "c", "no HELO at all")
quit(m, "192.0.2.86")
ok("no HELO at all (MAIL right after connect): judged on the rest, accepted")

# --- Malformed input: the milter drops the connection and keeps serving -----------------
m = Milter()
negotiate(m)
m.send(b"C", b"host\0" + b"4" + struct.pack(">H", 25))  # address missing
r = m.reply()
m.close()
ok("CONNECT without an address: " + show(r))

m = Milter()
negotiate(m)
m.send(b"Z", b"what?")
r = m.reply()
m.close()
if r is not None:
    fail(f"unknown command: got {show(r)}, expected the connection closed")
ok("unknown command byte: connection closed")

m = connect("192.0.2.87", helo=b"client.example.net")
m.s.sendall(struct.pack(">I", 0x7FFFFFF0) + b"M")  # absurd length, then nothing
r = m.reply()
m.close()
print("expect-session 192.0.2.87")
if r is not None:
    fail(f"absurd packet length: got {show(r)}, expected the connection closed")
ok("absurd packet length: connection closed")

m = connect("192.0.2.88")
r = m.ask(b"H", b"h" * 70000 + b"\0")  # beyond libmilter's 64 KiB packet limit
m.close()
print("expect-session 192.0.2.88")
if r is not None:
    fail(f"HELO beyond 64 KiB: got {show(r)}, expected the connection closed")
ok("HELO beyond 64 KiB: connection closed")

m = connect("192.0.2.89", name="client89.example.net", helo=b"client.example.net")
mail(m)
expect(rcpt(m, b"<user@example.org>"), "c", "a clean session after the malformed ones")
expect(m.ask(b"T"), "a", "data (SMFIR_ACCEPT: the message is settled, no end of message follows)")
quit(m, "192.0.2.89")
ok("still serving after malformed input")
# Postfix before milter_protocol 4 has no DATA stage: a message that reached a trap is
# refused at its end instead. (Last, and from another network: the trap bans.)
m = connect("203.0.113.90", helo=b"client.example.net", version=2,
            events=0x7F)
mail(m)
expect(rcpt(m, b"<user@example.org>"), "c", "real recipient (protocol 2)")
expect(rcpt(m, b"<trap@example.org>"), "y 550 5.1.1 Recipient address rejected: User unknown",
       "spamtrap (protocol 2)")
expect(m.ask(b"E"), "y 550 5.7.1 Message rejected by policy",
       "end of a message that reached a trap (protocol 2, no DATA)")
quit(m, "203.0.113.90")
ok("protocol 2 (no DATA stage): the message that reached a trap is refused at its end")

print("PASS replies")
