"""One WebSocket client's delivery state: a conflating outbox and its own sender task.

The fan-out never awaits a client. It drops each tick's shared `Message` into the session's
outbox, keyed by (exchange, symbol, mode), and at the end of the bus batch calls `flush`. A later tick for the same key
replaces the earlier one, so the outbox is bounded by the session's subscriptions and a slow
reader receives the latest value instead of a growing backlog. Control messages (acks, errors,
order updates, feed status) are never conflated: they wait in a bounded FIFO, and a session that
lets it overflow is evicted rather than silently losing an order update.

The sender takes everything pending at once and hands it to the transport as one batch, which the
native listener writes with a single ``transport.write`` of pre-built frames. If the transport
cannot accept data (its buffer is above the high-water mark) for `stall_timeout` seconds, the
session is evicted with close code 4408 and a log line; other sessions never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

from openalgo.streaming.messages import Message

if TYPE_CHECKING:
    from openalgo.streaming.seams import Feed, StreamPrincipal

log = logging.getLogger("openalgo.streaming.session")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009
CLOSE_AUTH_TIMEOUT = 4401
CLOSE_AUTH_FAILED = 4403
CLOSE_SLOW_CONSUMER = 4408

CONTROL_LIMIT = 2048
_ids = itertools.count(1)

TickKey = tuple[str, str, int]  # (exchange, symbol, mode)


class SessionTransport(Protocol):
    """How a session's bytes reach its client: the native listener or an ASGI WebSocket."""

    peer: str
    direct: bool  # True when `write_now` can succeed (the native listener)

    async def send(self, messages: list[Message]) -> None:
        """Deliver in order; may wait while the connection is not writable."""
        ...

    def write_now(self, messages: list[Message]) -> bool:
        """Deliver at once if the connection can take it without waiting; False otherwise."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start a close handshake (best effort) and release the connection."""
        ...


class Session:
    """Per-connection state shared by the protocol handler, the hub and the sender."""

    def __init__(
        self, transport: SessionTransport, *, stall_timeout: float, max_subscriptions: int
    ) -> None:
        self.id = next(_ids)
        self.transport = transport
        self.stall_timeout = stall_timeout
        self.max_subscriptions = max_subscriptions
        self.principal: StreamPrincipal | None = None
        self.feed: Feed | None = None
        self.broker = ""
        # (exchange, symbol) -> {mode: depth}; the hub's index holds the reverse mapping.
        self.subscriptions: dict[tuple[str, str], dict[int, int]] = {}
        self.subscription_count = 0
        self.orders_subscribed = False
        self.failed_auth = 0
        self._taken_keys: list[TickKey] = []
        self.outbox: dict[TickKey, Message] = {}
        self.control: deque[Message] = deque()
        self.closed = False
        self.close_code: int | None = None
        self.delivered = 0
        self.connected_at = time.monotonic()
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.dirty = False  # has ticks the hub will flush at the end of its batch
        self._sending = False  # the sender task holds a batch: nobody else may write

    def __repr__(self) -> str:
        user = self.principal.username if self.principal else "-"
        return f"<Session {self.id} {user}@{self.transport.peer}>"

    @property
    def authenticated(self) -> bool:
        return self.principal is not None

    # --- producers (synchronous, never block) ---------------------------------------------

    def flush(self) -> None:
        """Write everything pending right now if the transport can take it (the hub's fast path).

        Writing inline at the end of a bus batch saves a task switch per session per batch; when
        the transport cannot take data at once (paused, or an ASGI connection), or the sender is
        mid-batch, the sender task does it instead, under the stall timeout.
        """
        self.dirty = False
        if self.closed or not (self.outbox or self.control):
            return
        if self._sending or not self.transport.direct:
            self._wake.set()  # the sender (goes round once more and) takes these
            return
        batch = self._take()
        if self.transport.write_now(batch):
            self.delivered += len(batch)
            return
        # put it back (nothing newer can have arrived: we never yielded) for the sender
        self._restore(batch)
        self._wake.set()

    def _take(self) -> list[Message]:
        batch: list[Message] = []
        if self.control:
            batch.extend(self.control)
            self.control.clear()
        if self.outbox:
            self._taken_keys = list(self.outbox)
            batch.extend(self.outbox.values())
            self.outbox.clear()
        else:
            self._taken_keys = []
        return batch

    def _restore(self, batch: list[Message]) -> None:
        keys = self._taken_keys
        control = len(batch) - len(keys)
        self.control.extend(batch[:control])
        self.outbox.update(zip(keys, batch[control:], strict=True))

    def push(self, message: Message) -> None:
        if self.closed:
            return
        control = self.control
        control.append(message)
        if len(control) > CONTROL_LIMIT:
            self.evict(f"slow consumer: {len(control)} control messages pending")
            return
        self._wake.set()

    # --- sender ---------------------------------------------------------------------------

    def start(self) -> None:
        self._sender = asyncio.get_running_loop().create_task(
            self._send_loop(), name=f"ws-sender-{self.id}"
        )

    async def _send_loop(self) -> None:
        wake = self._wake
        transport = self.transport
        while not self.closed:
            await wake.wait()
            wake.clear()
            if self.closed:
                return
            if not (self.control or self.outbox):
                continue
            batch = self._take()
            self._sending = True
            try:
                async with asyncio.timeout(self.stall_timeout):
                    await transport.send(batch)
            except TimeoutError:
                self.evict(f"slow consumer: not reading for {self.stall_timeout:g}s")
                return
            except (ConnectionError, OSError):
                self.closed = True
                return
            finally:
                self._sending = False
            self.delivered += len(batch)

    # --- closing --------------------------------------------------------------------------

    def evict(self, reason: str) -> None:
        """Drop a client that cannot keep up; the others never notice."""
        if self.closed:
            return
        log.warning(
            "evicting WebSocket session %s (user %s, %s): %s",
            self.id,
            self.principal.username if self.principal else "-",
            self.transport.peer,
            reason,
        )
        self.close(CLOSE_SLOW_CONSUMER, reason)

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.outbox.clear()
        self.control.clear()
        self._wake.set()
        with contextlib.suppress(Exception):
            self.transport.close(code, reason[:120])

    async def finish(self) -> None:
        """Stop the sender (after the hub has forgotten the session)."""
        self.closed = True
        self._wake.set()
        if self._sender is not None and self._sender is not asyncio.current_task():
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
