#!/usr/bin/env python3
"""A UDP DNS proxy that holds every answer for DELAY ms before passing it on.

dnsdist's DelayAction releases about one delayed answer per millisecond, which
caps a benchmark at ~1000 answers/s; this proxy delays thousands of answers
concurrently (event-loop timers), so the figures measure smtpwall, not the tool.
Usage: delay_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS   (loopback only)
"""
import asyncio
import sys


def key_of(packet):
    # The query id plus the question: what the answer repeats.
    end = 12
    while end < len(packet) and packet[end] != 0:
        end += packet[end] + 1
    return packet[:2] + packet[12:end + 5]


class Proxy:
    def __init__(self, delay):
        self.delay = delay
        self.pending = {}

    def from_client(self, data, client):
        if len(data) < 17:
            return
        self.pending.setdefault(key_of(data), []).append(client)
        self.upstream.sendto(data)

    def from_upstream(self, data):
        clients = self.pending.pop(key_of(data), None)
        if clients:
            loop = asyncio.get_running_loop()
            for client in clients:
                loop.call_later(self.delay, self.front.sendto, data, client)


class Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_datagram):
        self.on_datagram = on_datagram

    def datagram_received(self, data, addr):
        self.on_datagram(data, addr)


async def main():
    listen, upstream, delay_ms = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    loop = asyncio.get_running_loop()
    proxy = Proxy(delay_ms / 1000.0)
    proxy.front, _ = await loop.create_datagram_endpoint(
        lambda: Endpoint(proxy.from_client), local_addr=("127.0.0.1", listen))
    proxy.upstream, _ = await loop.create_datagram_endpoint(
        lambda: Endpoint(lambda data, _: proxy.from_upstream(data)), remote_addr=("127.0.0.1", upstream))
    for t in (proxy.front, proxy.upstream):
        sock = t.get_extra_info("socket")
        import socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    print(f"delay proxy on 127.0.0.1:{listen} -> {upstream}, {delay_ms} ms", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
