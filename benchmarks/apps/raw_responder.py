"""A canned-answer HTTP/1.1 server on uvloop: the fastest thing the generator can talk to.

    python -m benchmarks.apps.raw_responder --port P

It answers every request it finds in the stream with the same small 200 response and does no
real parsing, so the generator's measured rate against it is the generator's own ceiling.
"""

from __future__ import annotations

import argparse
import asyncio

_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
             b"Hello, World!")


class Responder(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")
        if n and self.transport is not None:
            self.transport.write(_RESPONSE * n)
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4 :]


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
