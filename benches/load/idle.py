#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one request on each and reads the whole
response, then holds them idle until stdin closes (or a line arrives). Prints "READY n" once all
are idle. Used by benches/load/scale to measure memory per idle connection.

    idle.py HOST PORT N [h1|tls|h2|h2c]

h1: cleartext HTTP/1.1; tls: HTTP/1.1 over TLS; h2: HTTP/2 over TLS (ALPN h2); h2c: cleartext
HTTP/2 with prior knowledge. Certificates
are not verified (the benchmark's self-signed one)."""
import asyncio
import ssl
import struct
import sys


def tls_context(alpn):
    # One context per run: each loads the system CA store, ~1 MB apiece.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    return ctx


async def h1(reader, writer):
    writer.write(b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


async def h2(reader, writer, scheme=0x87):
    # GET https://bench.test/ from HPACK's static table (0x86: http), :authority as a literal.
    block = bytes([0x82, scheme, 0x84, 0x41, len(b"bench.test")]) + b"bench.test"
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(0x4, 0, 0) + frame(0x1, 0x5, 1, block))
    await writer.drain()
    while True:
        head = await reader.readexactly(9)
        length = int.from_bytes(head[:3], "big")
        kind, flags = head[3], head[4]
        stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        await reader.readexactly(length)
        if kind == 0x4 and not flags & 0x1:
            writer.write(frame(0x4, 0x1, 0))  # SETTINGS ack
            await writer.drain()
        if stream == 1 and kind in (0x0, 0x1) and flags & 0x1:
            return  # END_STREAM on the response


CONTEXTS = {}


def context_for(alpn):
    if alpn not in CONTEXTS:
        CONTEXTS[alpn] = tls_context(alpn)
    return CONTEXTS[alpn]


async def one(host, port, mode, sem, conns):
    async with sem:
        if mode == "h1":
            reader, writer = await asyncio.open_connection(host, port)
            await h1(reader, writer)
        elif mode == "tls":
            reader, writer = await asyncio.open_connection(host, port, ssl=context_for("http/1.1"))
            await h1(reader, writer)
        elif mode == "h2c":
            reader, writer = await asyncio.open_connection(host, port)
            await h2(reader, writer, scheme=0x86)
        else:
            reader, writer = await asyncio.open_connection(host, port, ssl=context_for("h2"))
            await h2(reader, writer)
        conns.append(writer)


async def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "h1"
    conns = []
    sem = asyncio.Semaphore(200)
    results = await asyncio.gather(
        *(one(host, port, mode, sem, conns) for _ in range(n)), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    print(f"READY {len(conns)} failed={len(failed)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for w in conns:
        w.close()
    print("CLOSED", flush=True)


asyncio.run(main())
