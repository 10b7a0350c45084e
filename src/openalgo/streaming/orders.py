"""The order-event stream: venues publish `OrderEvent`s, subscribers receive ``order_update``s.

`OrderEventStream` is the `OrderEventSink` the sandbox and broker order feeds publish to. It stamps
each event with a per-user sequence number (1, 2, 3... for the life of the process) so that a
client can detect a gap, encodes the ``order_update`` message once, and hands it to every
WebSocket session of that user that sent ``subscribe_orders``, and to in-process listeners (the
admin pages) through bounded queues. `publish` never blocks; it must be called on the event loop's
thread (venues run there). A WebSocket session that lets its control queue overflow is evicted
(see `Session.push`); a listener queue that overflows drops the event and the listener sees the
gap in ``seq``.

Message (OpenAlgo's shape from its order-update relay, plus ``event``, ``seq`` and ``timestamp``)::

    {"type":"order_update","user_id":"alice","mode":"live","broker":"zerodha","orderid":"123",
     "symbol":"RELIANCE","exchange":"NSE","action":"BUY","quantity":1,"price":0.0,
     "trigger_price":0.0,"pricetype":"MARKET","product":"MIS","order_status":"complete",
     "filled_quantity":1,"pending_quantity":0,"average_price":101.0,"rejection_reason":"",
     "strategy":"","event":"filled","seq":7,"timestamp":1700000000000}
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from openalgo.domain.orders import OrderEvent
from openalgo.streaming.messages import Message
from openalgo.streaming.session import Session

log = logging.getLogger("openalgo.streaming.orders")

LISTENER_QUEUE = 1000


def order_update(event: OrderEvent, username: str) -> dict[str, Any]:
    order = event.order
    return {
        "type": "order_update",
        "user_id": username,
        "mode": event.mode,
        "broker": event.venue,
        "orderid": order.orderid,
        "symbol": order.symbol,
        "exchange": order.exchange,
        "action": order.action.value,
        "quantity": order.quantity,
        "price": float(order.price),
        "trigger_price": float(order.trigger_price),
        "pricetype": order.pricetype.value,
        "product": order.product.value,
        "order_status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "pending_quantity": order.pending_quantity,
        "average_price": float(order.average_price),
        "rejection_reason": order.rejection_reason,
        "strategy": order.strategy,
        "event": event.kind.value,
        "seq": event.seq,
        "timestamp": int(order.timestamp.timestamp() * 1000),
    }


class OrderEventStream:
    """`OrderEventSink` with per-user sequence numbers and fan-out to sessions and listeners."""

    def __init__(self, usernames: Callable[[int], str | None] | None = None) -> None:
        self._seq: dict[int, int] = defaultdict(int)
        self._sessions: dict[int, set[Session]] = defaultdict(set)
        self._listeners: dict[int | None, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._known_names: dict[int, str] = {}
        self._usernames = usernames
        self.published = 0
        self.listener_drops = 0

    def publish(self, event: OrderEvent) -> None:
        seq = self._seq[event.user_id] + 1
        self._seq[event.user_id] = seq
        event = dataclasses.replace(event, seq=seq)
        self.published += 1
        sessions = self._sessions.get(event.user_id)
        listeners = [*self._listeners.get(event.user_id, ()), *self._listeners.get(None, ())]
        if not sessions and not listeners:
            return
        payload = order_update(event, self._username(event.user_id))
        if sessions:
            message = Message.of(payload)
            for session in list(sessions):
                session.push(message)
        for queue in listeners:
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                self.listener_drops += 1

    def last_seq(self, user_id: int) -> int:
        return self._seq.get(user_id, 0)

    def _username(self, user_id: int) -> str:
        name = self._known_names.get(user_id)
        if name is None and self._usernames is not None:
            name = self._usernames(user_id)
        return name or str(user_id)

    # --- WebSocket sessions -----------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        assert session.principal is not None
        user = session.principal.user_id
        self._known_names[user] = session.principal.username
        self._sessions[user].add(session)
        session.orders_subscribed = True

    def remove_session(self, session: Session) -> None:
        session.orders_subscribed = False
        for user, sessions in list(self._sessions.items()):
            sessions.discard(session)
            if not sessions:
                del self._sessions[user]

    # --- in-process listeners (admin pages) ---------------------------------------------------

    @asynccontextmanager
    async def listen(
        self, user_id: int | None = None
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A bounded queue of one user's ``order_update`` dicts (every user's when None)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(LISTENER_QUEUE)
        self._listeners[user_id].add(queue)
        try:
            yield queue
        finally:
            self._listeners[user_id].discard(queue)


def now_ms() -> int:
    return int(time.time() * 1000)
