#!/usr/bin/env python3
"""Hostile clients for hostile_test.sh and test/bench/hostile_bench.sh.

  smtp-attack SOURCE SERVER TAG EHLOS MAILS
      one SMTP session from SOURCE: EHLOS greetings with distinct names
      (h<TAG>-<i>.attack.example.net, the last one clientNN.example.net, the client's
      own) and MAILS times RSET + MAIL FROM with distinct senders at
      slowspf.example.net (after the first greeting), then MAIL FROM (the last sender
      again) and RCPT; prints "rcpt <code>"
  smtp-normal SOURCE SERVER HELO SENDER
      one ordinary session; prints "rcpt <code> <ms from RCPT sent to its reply>"
  smtp-others SERVER SESSIONS CONCURRENCY SOURCE...
      SESSIONS ordinary sessions (HELO client.example.net, an SPF pass sender),
      CONCURRENCY at a time, over the SOURCE addresses;
      prints "<code> <ms>" per session (the bench's verdict latencies)
  control-flood SOCKET CONNECTIONS REQUESTS HOLD
      CONNECTIONS connections to the control socket, each sending REQUESTS pipelined
      "bans" lines and never reading; after HOLD seconds, counts how each ended:
      prints "refused N cut N open N"
  metrics-flood PORT CONNECTIONS HOLD
      CONNECTIONS silent connections to the /metrics listener; after HOLD seconds
      prints "closed N open N fetched BYTES" (a GET /metrics made afterwards)
  check-flood SOCKET N IP
      N pipelined live checks of IP on one connection, replies read; prints
      "ok N limited N other N"
  logfmt CLIENT < LINES
      finds the session line of CLIENT, parses it as strict logfmt and checks that it
      has each key once, client=CLIENT, and that the regex client=(\\S+) finds only it
"""
import re
import socket
import sys
import time


def smtp_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise EOFError("server closed the connection")
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), lines


def smtp_connect(source, server):
    s = socket.create_connection((server, 25), timeout=60, source_address=(source, 0))
    f = s.makefile("rb")
    code, _ = smtp_reply(f)
    assert code == 220, code
    return s, f


def smtp_attack(source, server, tag, ehlos, mails):
    s, f = smtp_connect(source, server)

    def ehlo(i, name=None):
        s.sendall(f"EHLO {name or f'h{tag}-{i}.attack.example.net'}\r\n".encode())
        code, _ = smtp_reply(f)
        assert code == 250, ("EHLO", i, code)

    def mail(i):
        s.sendall(f"MAIL FROM:<x{tag}-{i}@slowspf.example.net>\r\n".encode())
        code, _ = smtp_reply(f)
        assert code == 250, ("MAIL", i, code)

    # The slow SPF checks first, so that they are under way during the greetings.
    ehlo(0)
    for i in range(int(mails)):
        s.sendall(b"RSET\r\n")
        smtp_reply(f)
        mail(i)
    for i in range(1, int(ehlos) - 1):
        ehlo(i)
    # The last greeting is the client's own name: a verdict judges that one.
    ehlo(int(ehlos) - 1, f"client{source.rsplit('.', 1)[1]}.example.net")
    mail(int(mails) - 1)
    s.sendall(b"RCPT TO:<user@example.org>\r\n")
    code, _ = smtp_reply(f)
    s.sendall(b"QUIT\r\n")
    print("rcpt", code)


def smtp_normal(source, server, helo, sender):
    code, took = normal_session(source, server, helo, sender)
    print("rcpt", code, f"{took:.1f}")


def normal_session(source, server, helo, sender):
    s, f = smtp_connect(source, server)
    s.sendall(f"EHLO {helo}\r\n".encode())
    smtp_reply(f)
    s.sendall(f"MAIL FROM:<{sender}>\r\n".encode())
    smtp_reply(f)
    start = time.monotonic()
    s.sendall(b"RCPT TO:<user@example.org>\r\n")
    code, _ = smtp_reply(f)
    took = (time.monotonic() - start) * 1000
    s.sendall(b"QUIT\r\n")
    return code, took


def smtp_others(server, sessions, concurrency, *sources):
    """SESSIONS ordinary sessions (SPF pass), CONCURRENCY at a time, round-robin over
    SOURCES (clientNN.example.net each); prints one "<code> <ms>" line per session."""
    import concurrent.futures

    def one(i):
        source = sources[i % len(sources)]
        try:
            return normal_session(source, server, "client.example.net", "someone@example.net")
        except Exception:  # counted, not fatal: the figures say what happened
            return "error", 0.0

    with concurrent.futures.ThreadPoolExecutor(int(concurrency)) as pool:
        for code, took in pool.map(one, range(int(sessions))):
            print(code, f"{took:.1f}")


def control_flood(path, connections, requests, hold):
    conns = []
    for _ in range(int(connections)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        try:
            s.send(b"bans\n" * int(requests))
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            pass
        conns.append(s)
    time.sleep(float(hold))
    refused = cut = still_open = 0
    for s in conns:
        got = b""
        state = None
        while state is None:
            try:
                data = s.recv(1 << 20)
            except BlockingIOError:
                state = "open"  # nothing more and no end: the server still holds it
                break
            except ConnectionResetError:
                state = "closed"
                break
            if not data:
                state = "closed"
            got += data
        if state == "open":
            still_open += 1
        elif got.startswith(b"ERR too many connections"):
            refused += 1
        else:
            cut += 1
        s.close()
    print("refused", refused, "cut", cut, "open", still_open)


def metrics_flood(port, connections, hold):
    """CONNECTIONS TCP connections to the /metrics listener that send nothing; after
    HOLD seconds prints "closed N open N", then fetches /metrics once ("fetched N")."""
    conns = [socket.create_connection(("127.0.0.1", int(port))) for _ in range(int(connections))]
    time.sleep(float(hold))
    closed = still_open = 0
    for s in conns:
        s.setblocking(False)
        try:
            closed += 1 if s.recv(4096) == b"" else 0
        except BlockingIOError:
            still_open += 1
        except ConnectionResetError:
            closed += 1
        s.close()
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    reply = b""
    while chunk := s.recv(65536):
        reply += chunk
    print("closed", closed, "open", still_open, "fetched", len(reply) if reply.startswith(b"HTTP/1.0 200") else 0)


def check_flood(path, n, ip):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(f"check --ip {ip}\n".encode() * int(n))
    f = s.makefile("rb")
    ok = limited = other = 0
    for _ in range(int(n)):
        status = f.readline()
        while True:  # the body, up to the lone "."
            line = f.readline()
            if not line or line == b".\n":
                break
        if status.startswith(b"OK"):
            ok += 1
        elif b"live checks a minute" in status:
            limited += 1
        else:
            other += 1
    print("ok", ok, "limited", limited, "other", other)


def parse_logfmt(line):
    """Strict logfmt: message words, then key=value pairs; None if anything is off."""
    pairs, i, n, in_pairs = [], 0, len(line), False
    while i < n:
        m = re.compile(r"[a-z_]+=").match(line, i)
        if not m:
            if in_pairs:
                return None
            end = line.find(" ", i)
            if end in (-1, i) or "=" in line[i:end] or '"' in line[i:end]:
                return None
            i = end + 1
            continue
        in_pairs = True
        key, i = line[i : m.end() - 1], m.end()
        if i < n and line[i] == '"':
            i += 1
            value = ""
            while True:
                if i >= n:
                    return None
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "=" or ord(c) < 0x20 or ord(c) >= 0x7F:
                    return None
                if c == "\\":
                    e = line[i + 1 : i + 2]
                    if e in ('"', "\\"):
                        value += e
                        i += 2
                    elif e == "x" and re.fullmatch(r"[0-9a-f]{2}", line[i + 2 : i + 4]):
                        value += chr(int(line[i + 2 : i + 4], 16))
                        i += 4
                    else:
                        return None
                else:
                    value += c
                    i += 1
        else:
            m = re.compile(r'[^\s"=\\]+').match(line, i)
            if not m:
                return None
            value, i = m.group(0), m.end()
        pairs.append((key, value))
        if i < n:
            if line[i] != " " or i + 1 == n:
                return None
            i += 1
    return pairs


def logfmt(client):
    lines = [l.rstrip("\n") for l in sys.stdin if f"session client={client} " in l]
    assert len(lines) == 1, ("session lines of", client, lines)
    line = lines[0].split(": ", 1)[1]  # "smtpwall-milter: session ..."
    pairs = parse_logfmt(line)
    assert pairs is not None, ("not strict logfmt", line)
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), ("a key twice", keys)
    assert dict(pairs)["client"] == client, pairs
    found = re.findall(r"client=(\S+)", line)
    assert found == [client], ("client=(\\S+) finds", found, line)
    print("ok", len(keys), "keys; helo =", repr(dict(pairs)["helo"]))


if __name__ == "__main__":
    commands = {
        "smtp-attack": smtp_attack,
        "smtp-normal": smtp_normal,
        "smtp-others": smtp_others,
        "control-flood": control_flood,
        "check-flood": check_flood,
        "metrics-flood": metrics_flood,
        "logfmt": logfmt,
    }
    commands[sys.argv[1]](*sys.argv[2:])
