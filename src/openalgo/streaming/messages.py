"""Server-to-client messages, encoded once and shared by every session that receives them.

A `Message` holds the JSON text as UTF-8 bytes and, built lazily, the complete WebSocket text frame
(header plus payload). Server frames are never masked, so one frame's bytes are valid on every
connection: the fan-out for a tick that goes to a hundred sessions serializes the JSON once per
(tick, mode, broker, depth) and each session only appends a reference to its outbox.

``market_data`` payloads keep OpenAlgo's envelope (``type, symbol, exchange, mode, data, broker``,
integer ``mode``) and a single normalized ``data`` schema for every broker:

- LTP: ``symbol, exchange, mode, ltp, ltt, timestamp``
- Quote: LTP plus ``open, high, low, close (previous close), volume, average_price,
  last_quantity, total_buy_quantity, total_sell_quantity, oi, change, change_percent`` and the
  SDK's spellings ``avg_trade_price`` and ``last_trade_quantity`` (the Python SDK reads those; the
  web UI and Zerodha-style consumers read the others).
- Depth: Quote plus ``depth: {buy: [{price, quantity, orders}], sell: [...]}``.

``timestamp`` and ``ltt`` are epoch milliseconds for every broker.
"""

from __future__ import annotations

import json
from typing import Any, Final

from openalgo.domain.market import DepthLevel, Tick

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Message:
    """One outgoing text message: JSON bytes plus its WebSocket frame, built on first use."""

    __slots__ = ("_frame", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._frame: bytes | None = None

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Message:
        return cls(_dumps(obj).encode())

    @property
    def text(self) -> str:
        return self.payload.decode()

    @property
    def frame(self) -> bytes:
        frame = self._frame
        if frame is None:
            frame = self._frame = text_frame(self.payload)
        return frame

    def __repr__(self) -> str:
        return f"Message({self.payload[:80]!r})"


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 section 5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


MODE_LABELS: Final = {1: "LTP", 2: "Quote", 3: "Depth"}


def _levels(levels: tuple[DepthLevel, ...], depth: int) -> list[dict[str, Any]]:
    return [
        {"price": lv.price, "quantity": lv.quantity, "orders": lv.orders} for lv in levels[:depth]
    ]


def market_data(tick: Tick, mode: int, broker: str, depth: int = 5) -> Message:
    """The ``market_data`` message for one tick as seen by a subscriber of ``mode``.

    ``mode`` must not exceed the tick's own mode (the hub guarantees it).
    """
    data: dict[str, Any] = {
        "symbol": tick.symbol,
        "exchange": tick.exchange,
        "mode": mode,
        "ltp": tick.ltp,
        "ltt": tick.ltt_ms,
        "timestamp": tick.timestamp_ms,
    }
    quote = tick.quote
    if mode >= 2 and quote is not None:
        prev_close = quote.prev_close
        change = round(tick.ltp - prev_close, 4) if prev_close else 0.0
        data.update(
            open=quote.open,
            high=quote.high,
            low=quote.low,
            close=prev_close,
            volume=quote.volume,
            average_price=quote.average_price,
            avg_trade_price=quote.average_price,
            last_quantity=quote.last_quantity,
            last_trade_quantity=quote.last_quantity,
            total_buy_quantity=quote.total_buy_quantity,
            total_sell_quantity=quote.total_sell_quantity,
            oi=quote.oi,
            change=change,
            change_percent=round(change * 100 / prev_close, 4) if prev_close else 0.0,
        )
    if mode == 3:
        data["depth"] = {"buy": _levels(tick.bids, depth), "sell": _levels(tick.asks, depth)}
    return Message.of(
        {
            "type": "market_data",
            "symbol": tick.symbol,
            "exchange": tick.exchange,
            "mode": mode,
            "data": data,
            "broker": broker,
        }
    )


def error(code: str, message: str, **extra: Any) -> Message:
    """OpenAlgo's error object: no ``type`` field, the connection stays open."""
    return Message.of({"status": "error", "code": code, "message": message, **extra})
