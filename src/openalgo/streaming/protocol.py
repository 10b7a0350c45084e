"""OpenAlgo's WebSocket client protocol: parse each client message, act, and answer.

The wire format is OpenAlgo's (reference: openalgo-streaming.md section 1): the action in
``action`` (or ``type``), ``api_key``/``apikey``, ``symbols`` lists or top-level ``symbol`` +
``exchange``, modes 1/2/3 or their names in any case, ``depth``, ``request_id`` echoed back, error
objects without a ``type``, ``partial`` acks, ``pong`` with ``_pingId``. Where OpenAlgo has a bug
we fix it; every difference is listed in ``docs/streaming.md``.

`ProtocolHandler.handle` runs one message for one session. It never raises for bad input: every
problem becomes an error message to that session alone, and the connection stays usable.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

from openalgo.domain.instruments import InstrumentLookup
from openalgo.streaming.hub import Hub, feed_status_message
from openalgo.streaming.messages import MODE_LABELS, Message, error
from openalgo.streaming.orders import OrderEventStream
from openalgo.streaming.seams import Authenticator, FeedError, FeedResolver
from openalgo.streaming.session import CLOSE_AUTH_FAILED, Session

log = logging.getLogger("openalgo.streaming.protocol")

DEPTH_LEVELS: Final = (5, 20, 30, 50)
DEFAULT_MODE: Final = 2  # OpenAlgo's default when a subscribe names no mode
DEFAULT_DEPTH: Final = 5
MAX_FAILED_AUTH: Final = 5
_NAMES: Final = {"ltp": 1, "quote": 2, "depth": 3}
_MAX_NAME = 64


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_mode(value: Any) -> int:
    """1/2/3 or "LTP"/"Quote"/"Depth" in any case; bools, floats and others are refused."""
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2, 3):
        return value
    if isinstance(value, str) and value.lower() in _NAMES:
        return _NAMES[value.lower()]
    shown = repr(value) if isinstance(value, str) else json.dumps(value)
    raise ProtocolError(
        "INVALID_MODE",
        f"Invalid mode {shown}; expected 1, 2, 3 or 'LTP', 'Quote', 'Depth' (case-insensitive)",
    )


def parse_depth(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in DEPTH_LEVELS:
        return value
    raise ProtocolError(
        "INVALID_DEPTH", f"Invalid depth {json.dumps(value)}; expected 5, 20, 30 or 50"
    )


@dataclass(frozen=True, slots=True)
class SymbolRef:
    symbol: str
    exchange: str
    mode: int | None = None
    problem: str | None = None  # why this entry cannot be used


def parse_symbols(msg: dict[str, Any], *, item_modes: bool) -> list[SymbolRef]:
    """The ``symbols`` list, or the top-level ``symbol`` + ``exchange`` form."""
    raw = msg.get("symbols")
    if raw is None and ("symbol" in msg or "exchange" in msg):
        raw = [{"symbol": msg.get("symbol"), "exchange": msg.get("exchange")}]
    if raw is None or raw == []:
        raise ProtocolError("INVALID_PARAMETERS", "At least one symbol must be specified")
    if not isinstance(raw, list):
        raise ProtocolError("INVALID_PARAMETERS", "symbols must be a list of {symbol, exchange}")
    refs = []
    for item in raw:
        if not isinstance(item, dict):
            refs.append(SymbolRef(str(item)[:_MAX_NAME], "", problem="expected {symbol, exchange}"))
            continue
        symbol, exchange = item.get("symbol"), item.get("exchange")
        if (
            not isinstance(symbol, str)
            or not isinstance(exchange, str)
            or not symbol
            or not exchange
        ):
            refs.append(
                SymbolRef(
                    str(symbol or "")[:_MAX_NAME],
                    str(exchange or "")[:_MAX_NAME],
                    problem="symbol and exchange are required strings",
                )
            )
            continue
        if len(symbol) > _MAX_NAME or len(exchange) > _MAX_NAME or "|" in symbol + exchange:
            refs.append(
                SymbolRef(symbol[:_MAX_NAME], exchange[:_MAX_NAME], problem="invalid symbol")
            )
            continue
        mode = None
        if item_modes and item.get("mode") is not None:
            try:
                mode = parse_mode(item["mode"])
            except ProtocolError as exc:
                refs.append(SymbolRef(symbol, exchange, problem=exc.message))
                continue
        refs.append(SymbolRef(symbol.upper(), exchange.upper(), mode))
    return refs


def _now_ms() -> int:
    return int(time.time() * 1000)


class ProtocolHandler:
    """Runs client actions against the hub, the authenticator and the order stream."""

    def __init__(
        self,
        *,
        hub: Hub,
        authenticator: Authenticator,
        instruments: InstrumentLookup,
        feeds: FeedResolver,
        orders: OrderEventStream,
        max_message_bytes: int,
    ) -> None:
        self.hub = hub
        self.authenticator = authenticator
        self.instruments = instruments
        self.feeds = feeds
        self.orders = orders
        self.max_message_bytes = max_message_bytes
        self._actions = {
            "authenticate": self._authenticate,
            "auth": self._authenticate,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "unsubscribe_all": self._unsubscribe_all,
            "subscribe_orders": self._subscribe_orders,
            "unsubscribe_orders": self._unsubscribe_orders,
            "get_broker_info": self._broker_info,
            "get_supported_brokers": self._supported_brokers,
            "ping": self._ping,
        }
        self._open = {"authenticate", "auth", "ping", "get_supported_brokers"}

    # --- entry points -----------------------------------------------------------------------

    def binary(self, session: Session) -> None:
        session.push(
            error("INVALID_MESSAGE", "Binary frames are not supported; send JSON text messages")
        )

    async def handle(self, session: Session, text: str) -> None:
        if len(text) > self.max_message_bytes or len(text.encode()) > self.max_message_bytes:
            session.push(
                error(
                    "MESSAGE_TOO_LARGE",
                    f"Message is larger than {self.max_message_bytes} bytes",
                )
            )
            return
        try:
            msg = json.loads(text)
        except ValueError:
            session.push(error("INVALID_JSON", "Invalid JSON message"))
            return
        if not isinstance(msg, dict):
            session.push(error("INVALID_JSON", "Invalid JSON message: expected an object"))
            return
        action = msg.get("action", msg.get("type"))
        extra = _request_id(msg)
        if not isinstance(action, str) or action not in self._actions:
            shown = action if isinstance(action, str) else json.dumps(action)
            session.push(error("INVALID_ACTION", f"Invalid action: {shown}"[:200], **extra))
            return
        if action not in self._open and not session.authenticated:
            session.push(error("NOT_AUTHENTICATED", "You must authenticate first", **extra))
            return
        try:
            await self._actions[action](session, msg)
        except ProtocolError as exc:
            session.push(error(exc.code, exc.message, **extra))
        except Exception:
            log.exception("WebSocket action %s failed for %r", action, session)
            session.push(error("SERVER_ERROR", "Internal error processing the request", **extra))

    # --- actions ----------------------------------------------------------------------------

    async def _authenticate(self, session: Session, msg: dict[str, Any]) -> None:
        key = msg.get("api_key", msg.get("apikey"))
        if not isinstance(key, str) or not key.strip():
            raise ProtocolError("AUTHENTICATION_ERROR", "API key is required")
        principal = await self.authenticator.authenticate(key.strip(), session.transport.peer)
        if principal is None:
            session.failed_auth += 1
            session.push(error("AUTHENTICATION_ERROR", "Invalid API key"))
            if session.failed_auth >= MAX_FAILED_AUTH and not session.authenticated:
                session.close(CLOSE_AUTH_FAILED, "too many failed authentications")
            return
        try:
            feed = await self.feeds.feed_for(principal)
        except FeedError as exc:
            raise ProtocolError("BROKER_ERROR", exc.message) from exc
        previous = session.principal
        if previous is not None and (
            previous.user_id != principal.user_id or session.feed is not feed
        ):
            # A different user or feed: the old subscriptions belong to the old identity.
            await self.hub.unsubscribe_all(session)
            self.orders.remove_session(session)
        session.principal = principal
        session.feed = feed
        session.broker = principal.broker
        session.push(
            Message.of(
                {
                    "type": "auth",
                    "status": "success",
                    "message": "Authentication successful",
                    "broker": principal.broker,
                    "user_id": principal.username,
                    "supported_features": {"ltp": True, "quote": True, "depth": True},
                }
            )
        )

    async def _subscribe(self, session: Session, msg: dict[str, Any]) -> None:
        mode = parse_mode(msg["mode"]) if msg.get("mode") is not None else DEFAULT_MODE
        depth = parse_depth(msg["depth"]) if msg.get("depth") is not None else DEFAULT_DEPTH
        refs = parse_symbols(msg, item_modes=False)
        feed = session.feed
        assert feed is not None
        actual_depth = _actual_depth(depth, feed.depth_levels) if mode == 3 else depth
        broker = session.broker
        results: list[dict[str, Any]] = []
        for ref in refs:
            entry: dict[str, Any] = {"symbol": ref.symbol, "exchange": ref.exchange}
            failure = ref.problem and ("INVALID_PARAMETERS", ref.problem)
            held = session.subscriptions.get((ref.exchange, ref.symbol), {})
            if (
                not failure
                and mode not in held
                and (session.subscription_count >= session.max_subscriptions)
            ):
                failure = (
                    "MAX_SUBSCRIPTIONS",
                    f"Subscription limit reached: {session.max_subscriptions} per connection",
                )
            if (
                not failure
                and not held
                and await self.instruments.resolve(ref.symbol, ref.exchange) is None
            ):
                failure = (
                    "SYMBOL_NOT_FOUND",
                    f"Symbol {ref.symbol} not found for exchange {ref.exchange}",
                )
            if not failure:
                try:
                    await self.hub.subscribe(session, ref.exchange, ref.symbol, mode, actual_depth)
                except FeedError as exc:
                    failure = (exc.code, exc.message)
            if failure:
                entry.update(status="error", code=failure[0], message=failure[1], broker=broker)
            else:
                entry.update(
                    status="success", mode=MODE_LABELS[mode], depth=actual_depth, broker=broker
                )
            results.append(entry)
        ok = sum(1 for r in results if r["status"] == "success")
        status = "success" if ok == len(results) else ("partial" if ok else "error")
        session.push(
            Message.of(
                {
                    "type": "subscribe",
                    "status": status,
                    "subscriptions": results,
                    "message": "Subscription processing complete",
                    "broker": broker,
                    **_request_id(msg),
                }
            )
        )
        state = self.hub.feed_status(feed.feed)
        if ok and state is not None and state.state == "down":
            session.push(feed_status_message(state, broker))

    async def _unsubscribe(self, session: Session, msg: dict[str, Any]) -> None:
        if msg.get("symbols") is None and "symbol" not in msg and "exchange" not in msg:
            raise ProtocolError(
                "INVALID_PARAMETERS", "Either symbols or unsubscribe_all is required"
            )
        top_mode = parse_mode(msg["mode"]) if msg.get("mode") is not None else None
        refs = parse_symbols(msg, item_modes=True)
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        broker = session.broker
        for ref in refs:
            entry: dict[str, Any] = {"symbol": ref.symbol, "exchange": ref.exchange}
            if ref.problem:
                failed.append(
                    {**entry, "status": "error", "message": ref.problem, "broker": broker}
                )
                continue
            mode = ref.mode if ref.mode is not None else top_mode
            removed = await self.hub.unsubscribe(session, ref.exchange, ref.symbol, mode)
            if removed:
                for m in removed:
                    successful.append(
                        {**entry, "status": "success", "mode": MODE_LABELS[m], "broker": broker}
                    )
            else:
                what = f" in {MODE_LABELS[mode]} mode" if mode else ""
                failed.append(
                    {
                        **entry,
                        "status": "error",
                        "message": f"Not subscribed to {ref.exchange}:{ref.symbol}{what}",
                        "broker": broker,
                    }
                )
        session.push(_unsubscribe_ack(successful, failed, broker, msg))

    async def _unsubscribe_all(self, session: Session, msg: dict[str, Any]) -> None:
        removed = await self.hub.unsubscribe_all(session)
        broker = session.broker
        successful = [
            {
                "symbol": s,
                "exchange": e,
                "status": "success",
                "mode": MODE_LABELS[m],
                "broker": broker,
            }
            for e, s, m in removed
        ]
        session.push(_unsubscribe_ack(successful, [], broker, msg, all_=True))

    async def _subscribe_orders(self, session: Session, msg: dict[str, Any]) -> None:
        self.orders.add_session(session)
        session.push(
            Message.of(
                {
                    "type": "subscribe_orders",
                    "status": "success",
                    "message": "Subscribed to order updates",
                    **_request_id(msg),
                }
            )
        )

    async def _unsubscribe_orders(self, session: Session, msg: dict[str, Any]) -> None:
        self.orders.remove_session(session)
        session.push(
            Message.of(
                {
                    "type": "unsubscribe_orders",
                    "status": "success",
                    "message": "Unsubscribed from order updates",
                    **_request_id(msg),
                }
            )
        )

    async def _broker_info(self, session: Session, msg: dict[str, Any]) -> None:
        assert session.principal is not None and session.feed is not None
        state = self.hub.feed_status(session.feed.feed)
        connected = session.feed.connected and (state is None or state.state == "up")
        session.push(
            Message.of(
                {
                    "type": "broker_info",
                    "status": "success",
                    "broker": session.broker,
                    "adapter_status": "connected" if connected else "disconnected",
                    "user_id": session.principal.username,
                    **_request_id(msg),
                }
            )
        )

    async def _supported_brokers(self, session: Session, msg: dict[str, Any]) -> None:
        brokers = self.feeds.supported_brokers()
        session.push(
            Message.of(
                {
                    "type": "supported_brokers",
                    "status": "success",
                    "brokers": brokers,
                    "count": len(brokers),
                    **_request_id(msg),
                }
            )
        )

    async def _ping(self, session: Session, msg: dict[str, Any]) -> None:
        reply: dict[str, Any] = {
            "type": "pong",
            "status": "success",
            "server_timestamp": _now_ms(),
        }
        if "timestamp" in msg:
            reply["client_timestamp"] = msg["timestamp"]
        if "_pingId" in msg:
            reply["_pingId"] = msg["_pingId"]
        reply.update(_request_id(msg))
        session.push(Message.of(reply))


def _request_id(msg: dict[str, Any]) -> dict[str, Any]:
    return {"request_id": msg["request_id"]} if "request_id" in msg else {}


def _actual_depth(requested: int, offered: frozenset[int]) -> int:
    """The feed's best depth not above the request (its smallest when it offers none below)."""
    if requested in offered or not offered:
        return requested
    below = [d for d in offered if d <= requested]
    return max(below) if below else min(offered)


def _unsubscribe_ack(
    successful: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    broker: str,
    msg: dict[str, Any],
    *,
    all_: bool = False,
) -> Message:
    status = "success" if all_ or not failed else ("partial" if successful else "error")
    return Message.of(
        {
            "type": "unsubscribe",
            "status": status,
            "message": "Unsubscription processing complete",
            "successful": successful,
            "failed": failed,
            "broker": broker,
            **_request_id(msg),
        }
    )
