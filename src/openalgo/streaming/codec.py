"""The tick bus wire format: how a `Tick` travels between processes on ZeroMQ.

Every bus message is two frames:

1. **topic** (UTF-8): ``T|<feed>|<exchange>|<symbol>|`` for a tick, ``S|<feed>|`` for a feed-status
   change. The trailing ``|`` makes every prefix unambiguous (``T|simulator|NSE|SBI|`` is not a
   prefix of ``...|SBIN|``), so a SUB can filter by feed, by exchange or by symbol with ZeroMQ's
   own prefix matching. The topic is the only place feed, exchange and symbol appear.
2. **payload**: for a tick, a little-endian binary record (below); for a status change, a small
   JSON object. Ticks are hot (tens of thousands a second), status changes are rare.

Tick payload, version 1 (``struct`` formats, little-endian, no padding)::

    header  <BBdqq   version=1, flags, ltp, timestamp_ms, ltt_ms          26 bytes
            flags: bits 0-1 = mode level (1 LTP, 2 QUOTE, 3 DEPTH), bit 2 = quote present
    quote   <8d6q    ltp, open, high, low, prev_close, bid, ask, average_price,
                     volume, oi, last_quantity, total_buy_quantity,
                     total_sell_quantity, timestamp_ms                    112 bytes (if bit 2)
    depth   <BB      number of bids, number of asks                        2 bytes (mode 3 only)
            <dqi     price, quantity, orders, for each bid then each ask   20 bytes per level

An LTP tick is 26 bytes, a quote tick 138, a 5-level depth tick 340, against ~200-500 bytes of JSON
in OpenAlgo's bus; and packing with precompiled `struct.Struct` objects costs about a microsecond.
A reader that meets an unknown version counts a decode error and skips the message.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Final

from openalgo.domain.enums import TickMode
from openalgo.domain.market import DepthLevel, Quote, Tick

VERSION: Final = 1
TICK_PREFIX: Final = b"T|"
STATUS_PREFIX: Final = b"S|"
SEPARATOR: Final = "|"

_HEADER = struct.Struct("<BBdqq")
_QUOTE = struct.Struct("<8d6q")
_COUNTS = struct.Struct("<BB")
_LEVEL = struct.Struct("<dqi")
_HAS_QUOTE = 0b100
_MODES: Final = (TickMode.LTP, TickMode.LTP, TickMode.QUOTE, TickMode.DEPTH)
_MAX_LEVELS = 255


class CodecError(ValueError):
    """A bus message that is not in the format above."""


def tick_topic(feed: str, exchange: str, symbol: str) -> bytes:
    return f"T|{feed}|{exchange}|{symbol}|".encode()


def status_topic(feed: str) -> bytes:
    return f"S|{feed}|".encode()


def check_name(value: str, what: str) -> str:
    """Names travel inside topics: refuse the separator (no OpenAlgo symbol contains it)."""
    if not value or SEPARATOR in value:
        raise CodecError(f"{what} {value!r} is empty or contains {SEPARATOR!r}")
    return value


def encode_tick(tick: Tick) -> tuple[bytes, bytes]:
    """Topic and payload frames for one tick."""
    topic = tick_topic(tick.feed, tick.exchange, tick.symbol)
    level = tick.mode.level
    quote = tick.quote
    flags = level | (_HAS_QUOTE if quote is not None else 0)
    parts = [_HEADER.pack(VERSION, flags, tick.ltp, tick.timestamp_ms, tick.ltt_ms)]
    if quote is not None:
        parts.append(
            _QUOTE.pack(
                quote.ltp,
                quote.open,
                quote.high,
                quote.low,
                quote.prev_close,
                quote.bid,
                quote.ask,
                quote.average_price,
                quote.volume,
                quote.oi,
                quote.last_quantity,
                quote.total_buy_quantity,
                quote.total_sell_quantity,
                quote.timestamp_ms,
            )
        )
    if level == 3:
        bids = tick.bids[:_MAX_LEVELS]
        asks = tick.asks[:_MAX_LEVELS]
        parts.append(_COUNTS.pack(len(bids), len(asks)))
        parts.extend(_LEVEL.pack(lv.price, lv.quantity, lv.orders) for lv in bids)
        parts.extend(_LEVEL.pack(lv.price, lv.quantity, lv.orders) for lv in asks)
    return topic, b"".join(parts)


def parse_tick_topic(topic: bytes) -> tuple[str, str, str]:
    """(feed, exchange, symbol) from a tick topic."""
    parts = topic.decode().split(SEPARATOR)
    if len(parts) != 5 or parts[0] != "T" or parts[4] != "" or not all(parts[1:4]):
        raise CodecError(f"not a tick topic: {topic!r}")
    return parts[1], parts[2], parts[3]


def decode_tick(topic: bytes, payload: bytes) -> Tick:
    feed, exchange, symbol = parse_tick_topic(topic)
    try:
        version, flags, ltp, timestamp_ms, ltt_ms = _HEADER.unpack_from(payload, 0)
        if version != VERSION:
            raise CodecError(f"unknown tick payload version {version}")
        level = flags & 0b11
        if level == 0:
            raise CodecError("tick payload has no mode")
        offset = _HEADER.size
        quote: Quote | None = None
        if flags & _HAS_QUOTE:
            q = _QUOTE.unpack_from(payload, offset)
            offset += _QUOTE.size
            quote = Quote(
                ltp=q[0],
                open=q[1],
                high=q[2],
                low=q[3],
                prev_close=q[4],
                bid=q[5],
                ask=q[6],
                average_price=q[7],
                volume=q[8],
                oi=q[9],
                last_quantity=q[10],
                total_buy_quantity=q[11],
                total_sell_quantity=q[12],
                timestamp_ms=q[13],
            )
        bids: tuple[DepthLevel, ...] = ()
        asks: tuple[DepthLevel, ...] = ()
        if level == 3:
            nbids, nasks = _COUNTS.unpack_from(payload, offset)
            offset += _COUNTS.size
            levels = [
                DepthLevel(*_LEVEL.unpack_from(payload, offset + i * _LEVEL.size))
                for i in range(nbids + nasks)
            ]
            offset += (nbids + nasks) * _LEVEL.size
            bids, asks = tuple(levels[:nbids]), tuple(levels[nbids:])
        if offset != len(payload):
            raise CodecError(f"tick payload has {len(payload) - offset} trailing bytes")
    except struct.error as exc:
        raise CodecError(f"truncated tick payload: {exc}") from exc
    return Tick(
        exchange=exchange,
        symbol=symbol,
        mode=_MODES[level],
        ltp=ltp,
        timestamp_ms=timestamp_ms,
        ltt_ms=ltt_ms,
        quote=quote,
        bids=bids,
        asks=asks,
        feed=feed,
    )


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """A feed's health as published on the bus (``S|<feed>|``)."""

    feed: str
    state: str  # "up" | "down"
    message: str
    timestamp_ms: int


def encode_status(status: FeedStatus) -> tuple[bytes, bytes]:
    payload = {"state": status.state, "message": status.message, "timestamp": status.timestamp_ms}
    return status_topic(status.feed), json.dumps(payload, separators=(",", ":")).encode()


def decode_status(topic: bytes, payload: bytes) -> FeedStatus:
    parts = topic.decode().split(SEPARATOR)
    if len(parts) != 3 or parts[0] != "S" or not parts[1] or parts[2] != "":
        raise CodecError(f"not a status topic: {topic!r}")
    try:
        data: Any = json.loads(payload)
        state, message, ts = data["state"], data["message"], data["timestamp"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CodecError(f"bad status payload: {exc}") from exc
    if state not in ("up", "down") or not isinstance(message, str) or not isinstance(ts, int):
        raise CodecError("bad status payload fields")
    return FeedStatus(feed=parts[1], state=state, message=message, timestamp_ms=ts)
