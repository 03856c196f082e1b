#!/usr/bin/env python3
"""SMTP client of test/bench/mta_bench.sh and test/bench/ban_latency_bench.sh (asyncio,
no pipelining, one message per session, each session from the next source address).

  smtp_load.py load SERVER COUNT CONCURRENCY SOURCE...
      COUNT sessions, CONCURRENCY at a time: EHLO client.example.net, MAIL FROM
      <sender@example.net>, RCPT TO <user@example.org>, a small message, QUIT. Prints
      one line: "ok FAILED SECONDS RATE SESSION_P50 SESSION_P99 RCPT_P50 RCPT_P99"
      (rate in messages/s over the whole run, times in ms: session = connect to the 250
      after the message's final dot, rcpt = RCPT sent to its reply). The first failed
      reply is printed to stderr. With $SMTP_LOAD_SAMPLES set, appends "SESSION_MS
      RCPT_MS" per message to that file; with $SMTP_LOAD_CPU set, writes the CPU
      seconds (user + system) this client used for the timed sessions to that file.
  smtp_load.py trap SERVER CONCURRENCY GAP_MS SOURCE...
      one session per source: EHLO, MAIL, RCPT TO <trap@example.org> (a spamtrap),
      QUIT; CONCURRENCY sessions at a time, each worker pausing GAP_MS between them.
      Prints "SOURCE CODE NANOSECONDS" per session: the RCPT reply code and the
      CLOCK_MONOTONIC time right after that reply was read.
"""
import asyncio
import os
import sys
import time

HELO = "client.example.net"
SENDER = "sender@example.net"
PORT = 25


class SmtpError(Exception):
    pass


async def reply(reader):
    """One SMTP reply (multi-line aware): (code, text)."""
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise SmtpError("connection closed")
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return int(lines[-1][:3]), "\n".join(lines)


async def command(reader, writer, text, expect):
    writer.write(text.encode() + b"\r\n")
    code, full = await reply(reader)
    if code // 100 != expect:
        raise SmtpError(f"{text.split(':')[0]} -> {full}")
    return code


async def open_session(server, source):
    reader, writer = await asyncio.open_connection(server, PORT, local_addr=(source, 0))
    code, full = await reply(reader)
    if code != 220:
        raise SmtpError(f"greeting -> {full}")
    await command(reader, writer, f"EHLO {HELO}", 2)
    await command(reader, writer, f"MAIL FROM:<{SENDER}>", 2)
    return reader, writer


async def close_session(reader, writer):
    try:
        writer.write(b"QUIT\r\n")
        await reply(reader)
    except (SmtpError, ConnectionError):
        pass
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


def message(n, source):
    return (f"From: <{SENDER}>\r\nTo: <user@example.org>\r\nSubject: bench {n}\r\n"
            f"Message-ID: <bench.{n}.{source}@example.net>\r\n\r\n"
            "A benchmark message. It is discarded.\r\n.").encode()


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def load(server, count, concurrency, sources):
    sessions, rcpts, samples, failures = [], [], [], []
    next_index = 0

    async def one(n):
        source = sources[n % len(sources)]
        start = time.monotonic()
        reader, writer = await open_session(server, source)
        try:
            t = time.monotonic()
            await command(reader, writer, "RCPT TO:<user@example.org>", 2)
            rcpt = time.monotonic() - t
            rcpts.append(rcpt)
            await command(reader, writer, "DATA", 3)
            writer.write(message(n, source) + b"\r\n")
            code, full = await reply(reader)
            if code != 250:
                raise SmtpError(f"end of data -> {full}")
            session = time.monotonic() - start
            sessions.append(session)
            samples.append((session, rcpt))
        finally:
            await close_session(reader, writer)

    async def worker():
        nonlocal next_index
        while next_index < count:
            n = next_index
            next_index += 1
            try:
                await one(n)
            except (SmtpError, OSError) as e:
                failures.append(str(e))

    start = time.monotonic()
    cpu_start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - start
    if os.environ.get("SMTP_LOAD_CPU"):
        with open(os.environ["SMTP_LOAD_CPU"], "w") as out:
            out.write(f"{time.process_time() - cpu_start:.6f}\n")
    if failures:
        print(f"smtp_load: {len(failures)} failed, first: {failures[0]}", file=sys.stderr)
    ms = lambda v: v * 1000  # noqa: E731
    if os.environ.get("SMTP_LOAD_SAMPLES"):
        with open(os.environ["SMTP_LOAD_SAMPLES"], "a") as out:
            out.writelines(f"{ms(a):.3f} {ms(b):.3f}\n" for a, b in samples)
    print(f"{len(sessions)} {len(failures)} {elapsed:.3f} {len(sessions) / elapsed:.1f} "
          f"{ms(percentile(sessions, 50)):.2f} {ms(percentile(sessions, 99)):.2f} "
          f"{ms(percentile(rcpts, 50)):.2f} {ms(percentile(rcpts, 99)):.2f}")


async def trap(server, concurrency, gap, sources):
    queue = list(reversed(sources))
    results = []

    async def one(source):
        reader, writer = await open_session(server, source)
        try:
            writer.write(b"RCPT TO:<trap@example.org>\r\n")
            code, _ = await reply(reader)
            results.append((source, code, time.monotonic_ns()))
        finally:
            await close_session(reader, writer)

    async def worker():
        while queue:
            source = queue.pop()
            try:
                await one(source)
            except (SmtpError, OSError) as e:
                print(f"smtp_load: {source}: {e}", file=sys.stderr)
                results.append((source, 0, 0))
            await asyncio.sleep(gap)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    for source, code, t in results:
        print(f"{source} {code} {t}")


def main(argv):
    if len(argv) >= 5 and argv[0] == "load":
        asyncio.run(load(argv[1], int(argv[2]), int(argv[3]), argv[4:]))
    elif len(argv) >= 5 and argv[0] == "trap":
        asyncio.run(trap(argv[1], int(argv[2]), float(argv[3]) / 1000, argv[4:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
