"""The native WebSocket listener (``OPENALGO_WS_PORT``, default 8765), where the SDK connects.

It runs in the service's event loop as a plain `asyncio.Protocol`. The `websockets` library's
Sans-I/O `ServerProtocol` does the HTTP handshake and parses what clients send (fragmentation,
control frames, close handshake, size limit); outgoing market data bypasses it: every frame is
pre-built once per message (`Message.frame`) and a session's whole batch goes out in a single
``transport.write``. That is what makes the fan-out several times faster than awaiting one
``send`` per message per client.

Backpressure comes from the transport: above the write-buffer high-water mark asyncio calls
`pause_writing`, the session's sender waits (its outbox keeps conflating), and if the buffer has
not drained within the stall timeout the session is evicted and the socket aborted, so a peer that
never reads cannot hold memory or delay anyone. Any request path is accepted, like OpenAlgo's proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from openalgo.streaming.messages import Message
from openalgo.streaming.session import CLOSE_INVALID_DATA, CLOSE_TOO_BIG

if TYPE_CHECKING:
    from openalgo.streaming.service import StreamingService

log = logging.getLogger("openalgo.streaming.server")

# Kernel send buffer per connection (Linux doubles it): enough for any one session's share of the
# fan-out, small enough that a peer that stops reading fills it within seconds, so the stall timer
# starts promptly and a thousand slow peers cannot pin gigabytes of kernel memory (autotuning would
# let each grow to tcp_wmem's maximum, 4 MiB by default).
SEND_BUFFER = 128 * 1024
WRITE_HIGH_WATER = 64 * 1024
WRITE_LOW_WATER = 16 * 1024
INBOX_PAUSE = 32  # client messages queued before we stop reading from the socket
HARD_MAX_MESSAGE = 1 << 20  # beyond this the connection is closed (1009); below it, an error reply
CLOSE_GRACE = 2.0


def hard_message_limit(max_message_bytes: int) -> int:
    """The size at which a client message closes the connection (1009) instead of getting a
    MESSAGE_TOO_LARGE reply. Both listeners use it: the native one here, uvicorn (``/ws``) through
    its ``ws_max_size``, so neither buffers more than this for one message."""
    return max(HARD_MAX_MESSAGE, max_message_bytes * 2)


class _Connection(asyncio.Protocol):
    """One TCP connection: handshake, then frames in, batches of frames out."""

    def __init__(self, service: StreamingService) -> None:
        self.service = service
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.ws = ServerProtocol(max_size=hard_message_limit(service.max_message_bytes))
        self.peer = "-"
        self.writable = asyncio.Event()
        self.writable.set()
        self.open = False
        self.lost = False
        self.inbox: deque[str | bytes | None] = deque()
        self.inbox_ready = asyncio.Event()
        self.reading_paused = False
        self.fragments: list[bytes] = []
        self.fragment_type: Opcode | None = None
        self.task: asyncio.Task[None] | None = None
        self.ping_timer: asyncio.TimerHandle | None = None
        self.pong_timer: asyncio.TimerHandle | None = None
        self.ping_payload: bytes | None = None
        self.abort_timer: asyncio.TimerHandle | None = None

    # --- asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.service.connections.add(self)

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._flush_protocol()
        if ws.parser_exc is not None or ws.state is State.CLOSED or ws.close_expected():
            self._finish_close()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush_protocol()
        self._finish_close()
        return None

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.open = False
        self.writable.set()  # wake a waiting sender; it will see the connection is gone
        for timer in (self.ping_timer, self.pong_timer, self.abort_timer):
            if timer is not None:
                timer.cancel()
        self._deliver(None)
        self.service.connections.discard(self)

    # --- handshake and frames -------------------------------------------------------------------

    def _handshake(self, request: Request) -> None:
        response = self.ws.accept(request)
        self.ws.send_response(response)
        if response.status_code != 101:
            self._flush_protocol()
            self._finish_close()
            return
        self.open = True
        self._flush_protocol()
        self.task = self.loop.create_task(
            self.service.run_connection(_NativeTransport(self), self._receive),
            name=f"ws-conn-{self.peer}",
        )
        self._schedule_ping()

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self.fragment_type = opcode
            self.fragments = [bytes(frame.data)]
        elif opcode is Opcode.CONT:
            self.fragments.append(bytes(frame.data))
        elif opcode is Opcode.PONG:
            if self.ping_payload is not None and bytes(frame.data) == self.ping_payload:
                self.ping_payload = None
                if self.pong_timer is not None:
                    self.pong_timer.cancel()
                    self.pong_timer = None
                self._schedule_ping()
            return
        else:  # PING and CLOSE are answered by the protocol object
            return
        if not frame.fin:
            return
        data = b"".join(self.fragments)
        self.fragments = []
        if self.fragment_type is Opcode.TEXT:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                # RFC 6455 section 8.1: invalid UTF-8 in a text message fails the connection
                # (1007), as uvicorn does on /ws.
                self.ws.fail(CLOSE_INVALID_DATA, "invalid UTF-8 in a text message")
                return
            self._deliver(text)
        else:
            self._deliver(data)

    def _deliver(self, item: str | bytes | None) -> None:
        self.inbox.append(item)
        self.inbox_ready.set()
        if len(self.inbox) >= INBOX_PAUSE and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()

    async def _receive(self) -> str | bytes | None:
        while not self.inbox:
            self.inbox_ready.clear()
            await self.inbox_ready.wait()
        item = self.inbox.popleft()
        if self.reading_paused and len(self.inbox) < INBOX_PAUSE // 4 and not self.lost:
            self.reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        return item

    # --- writing ----------------------------------------------------------------------------

    def _flush_protocol(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            self.ws.data_to_send()
            return
        for data in self.ws.data_to_send():
            if data:
                transport.write(data)

    def write_frames(self, messages: list[Message]) -> None:
        assert self.transport is not None
        if len(messages) == 1:
            self.transport.write(messages[0].frame)
        else:
            self.transport.write(b"".join([m.frame for m in messages]))

    def close(self, code: int, reason: str) -> None:
        """Send a close frame (if the socket can take it) and drop the connection soon after."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.open = False
        if self.ws.state is State.OPEN:
            with contextlib.suppress(Exception):
                self.ws.send_close(code, reason)
            self._flush_protocol()
        if not self.writable.is_set():
            transport.abort()  # stalled: its buffer will never drain
            return
        self.abort_timer = self.loop.call_later(CLOSE_GRACE, transport.abort)

    def _finish_close(self) -> None:
        transport = self.transport
        self.open = False
        if transport is not None and not transport.is_closing():
            if self.ws.parser_exc is not None and self.ws.close_sent is None:
                with contextlib.suppress(Exception):
                    self.ws.fail(CLOSE_TOO_BIG, "message too big")
                self._flush_protocol()
            transport.close()
            self.abort_timer = self.loop.call_later(CLOSE_GRACE, transport.abort)

    # --- keepalive --------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        interval = self.service.ping_interval
        self.ping_timer = self.loop.call_later(interval, self._send_ping)

    def _send_ping(self) -> None:
        self.ping_timer = None
        if not self.open or self.ws.state is not State.OPEN:
            return
        if not self.writable.is_set():
            self._schedule_ping()  # stalled: the stall timeout deals with it
            return
        self.ping_payload = os.urandom(4)
        self.ws.send_ping(self.ping_payload)
        self._flush_protocol()
        self.pong_timer = self.loop.call_later(self.service.ping_timeout, self._pong_missing)

    def _pong_missing(self) -> None:
        self.pong_timer = None
        log.info("WebSocket %s: no pong within %gs, closing", self.peer, self.service.ping_timeout)
        self.close(1011, "keepalive ping timeout")


class _NativeTransport:
    """`SessionTransport` over a `_Connection`."""

    __slots__ = ("conn", "direct", "peer")

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.peer = conn.peer
        self.direct = True

    async def send(self, messages: list[Message]) -> None:
        conn = self.conn
        if not conn.writable.is_set():
            await conn.writable.wait()
        if conn.lost or not conn.open:
            raise ConnectionError("connection closed")
        conn.write_frames(messages)

    def write_now(self, messages: list[Message]) -> bool:
        conn = self.conn
        if not conn.open or conn.lost or not conn.writable.is_set():
            return False
        conn.write_frames(messages)
        return True

    def close(self, code: int, reason: str) -> None:
        self.conn.close(code, reason)


class NativeWebSocketServer:
    """Owns the listening socket; connections are driven by `StreamingService`."""

    def __init__(self, service: StreamingService) -> None:
        self.service = service
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self.service), host, port, reuse_address=True, backlog=1024
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
