#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one request on each and reads the whole
response, then holds them idle until stdin closes (or a line arrives). Prints "READY n" once all
are idle. Used by benches/load/scale to measure memory per idle connection."""
import asyncio
import sys


async def one(host, port, sem, conns):
    async with sem:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        conns.append(writer)


async def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conns = []
    sem = asyncio.Semaphore(200)
    results = await asyncio.gather(*(one(host, port, sem, conns) for _ in range(n)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    print(f"READY {len(conns)} failed={len(failed)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for w in conns:
        w.close()
    print("CLOSED", flush=True)


asyncio.run(main())
