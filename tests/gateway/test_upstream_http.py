"""The small HTTP/1.1 client the proxy uses, against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moatcode.gateway.upstream_http import (
    ChunkedDecoder,
    ConnectionPool,
    Timeouts,
    UpstreamFailure,
    send_request,
)
from tests.gateway.conftest import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts if p) + \
        b"0\r\nx-trailer: 1\r\n\r\n"


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=8),
       st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_chunked_decoding_is_independent_of_how_reads_split(parts: list[bytes],
                                                            cuts: list[int]) -> None:
    wire = chunked(parts)
    points = sorted({0, *(c for c in cuts if c <= len(wire)), len(wire)})
    decoder = ChunkedDecoder()
    out = b"".join(decoder.feed(wire[lo:hi]) for lo, hi in itertools.pairwise(points))
    assert out == b"".join(parts) and decoder.done


def test_bad_chunk_framing_is_a_protocol_failure() -> None:
    with pytest.raises(UpstreamFailure, match="protocol"):
        ChunkedDecoder().feed(b"zz\r\n")
    with pytest.raises(UpstreamFailure, match="protocol"):
        ChunkedDecoder().feed(b"2\r\nabXX")


async def serve(handler: Handler) -> tuple[asyncio.Server, ConnectionPool]:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(closing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, ConnectionPool("127.0.0.1", port)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return await reader.readexactly(length)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_bodies_by_length_chunked_and_close() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for answer in (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                           b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
                           + chunked([b"he", b"llo"])):
                assert await read_request(reader) == b"{}"
                writer.write(answer)
                await writer.drain()
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close")
            await writer.drain()
            writer.close()

        server, pool = await serve(handler)
        async with server:
            bodies = []
            for _ in range(3):
                answer = await send_request(pool, "POST", "/v1/x", [], b"{}", Timeouts())
                bodies.append((answer.status, answer.reused, await answer.read_all(100)))
            assert bodies == [(200, False, b"hello"), (201, True, b"hello"),
                              (200, True, b"until close")]
            pool.close()

    run(main())


def test_a_refused_connection_fails_before_any_response() -> None:
    async def main() -> None:
        pool = ConnectionPool("127.0.0.1", free_port())
        with pytest.raises(UpstreamFailure) as failure:
            await send_request(pool, "POST", "/", [], b"{}", Timeouts(connect_s=2))
        assert (failure.value.kind, failure.value.before_response) == ("connect", True)

    run(main())


def test_a_closed_kept_alive_connection_is_retried_on_a_fresh_one() -> None:
    async def main() -> None:
        served = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal served
            await read_request(reader)
            served += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            # Keep-alive in the header, but the server drops the connection when idle.
            await asyncio.sleep(0.05)
            writer.close()

        server, pool = await serve(handler)
        async with server:
            first = await send_request(pool, "POST", "/", [], b"{}", Timeouts())
            await first.read_all(10)
            await asyncio.sleep(0.2)
            second = await send_request(pool, "POST", "/", [], b"{}", Timeouts())
            assert (await second.read_all(10), served) == (b"ok", 2)
            pool.close()

    run(main())


def test_a_server_that_hangs_up_without_answering() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.close()

        server, pool = await serve(handler)
        async with server:
            with pytest.raises(UpstreamFailure) as failure:
                await send_request(pool, "POST", "/", [], b"{}", Timeouts())
            assert (failure.value.kind, failure.value.before_response) == ("reset", True)

    run(main())


@pytest.mark.parametrize(("answer", "kind"), [
    (b"SMTP ready\r\n\r\n", "protocol"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", "dropped"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel", "dropped"),
])
def test_garbage_and_cut_bodies(answer: bytes, kind: str) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()
            writer.close()

        server, pool = await serve(handler)
        async with server:
            with pytest.raises(UpstreamFailure) as failure:
                response = await send_request(pool, "POST", "/", [], b"{}", Timeouts())
                await response.read_all(100)
            assert failure.value.kind == kind and not failure.value.before_response

    run(main())


def test_timeouts_for_the_first_byte_and_between_chunks() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            body = await read_request(reader)
            if body == b"slow-body":
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n")
                await writer.drain()
            await asyncio.sleep(1)
            writer.close()

        server, pool = await serve(handler)
        async with server:
            with pytest.raises(UpstreamFailure) as first:
                await send_request(pool, "POST", "/", [], b"slow-head",
                                   Timeouts(first_byte_s=0.1))
            answer = await send_request(pool, "POST", "/", [], b"slow-body",
                                        Timeouts(read_s=0.1))
            received = []
            with pytest.raises(UpstreamFailure) as idle:
                async for part in answer.chunks():
                    received.append(part)
            assert (first.value.kind, idle.value.kind, received) == ("timeout", "timeout",
                                                                     [b"hi"])

    run(main())
