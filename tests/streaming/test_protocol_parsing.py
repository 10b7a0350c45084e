"""Parsing rules of the client protocol (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from openalgo.streaming.messages import Message, text_frame
from openalgo.streaming.protocol import (
    ProtocolError,
    _actual_depth,
    parse_depth,
    parse_mode,
    parse_symbols,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (2, 2), (3, 3), ("LTP", 1), ("ltp", 1), ("Quote", 2), ("QUOTE", 2), ("depth", 3)],
)
def test_modes(value: Any, expected: int) -> None:
    assert parse_mode(value) == expected


@pytest.mark.parametrize("value", [0, 4, True, False, 1.0, "1", "full", None, [1], {"m": 1}])
def test_bad_modes(value: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_mode(value)
    assert info.value.code == "INVALID_MODE"


@pytest.mark.parametrize("value", [5, 20, 30, 50])
def test_depths(value: int) -> None:
    assert parse_depth(value) == value


@pytest.mark.parametrize("value", [1, 10, "5", 5.0, True, None])
def test_bad_depths(value: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_depth(value)
    assert info.value.code == "INVALID_DEPTH"


def test_actual_depth() -> None:
    assert _actual_depth(20, frozenset({5, 20})) == 20
    assert _actual_depth(50, frozenset({5, 20})) == 20
    assert _actual_depth(5, frozenset({20})) == 20
    assert _actual_depth(30, frozenset()) == 30


def test_symbols_forms() -> None:
    assert (
        parse_symbols({"symbol": "sbin", "exchange": "nse"}, item_modes=False)[0].symbol == "SBIN"
    )
    refs = parse_symbols(
        {"symbols": [{"symbol": "A", "exchange": "NSE", "mode": "depth"}, {"symbol": "B"}, 7]},
        item_modes=True,
    )
    assert [(r.symbol, r.mode, r.problem is None) for r in refs] == [
        ("A", 3, True),
        ("B", None, False),
        ("7", None, False),
    ]
    refs = parse_symbols({"symbols": [{"symbol": "A|B", "exchange": "NSE"}]}, item_modes=False)
    assert refs[0].problem == "invalid symbol"
    refs = parse_symbols(
        {"symbols": [{"symbol": "A", "exchange": "NSE", "mode": 9}]}, item_modes=True
    )
    assert refs[0].problem is not None and "Invalid mode 9" in refs[0].problem
    bad_messages: list[dict[str, Any]] = [{"symbols": []}, {}, {"symbols": "SBIN"}]
    for bad in bad_messages:
        with pytest.raises(ProtocolError):
            parse_symbols(bad, item_modes=False)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frames(size: int) -> None:
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame[0] == 0x81
    assert frame.endswith(payload)
    header = len(frame) - size
    assert header == (2 if size < 126 else 4 if size < 65536 else 10)


def test_message_is_encoded_once() -> None:
    msg = Message.of({"a": 1})
    assert msg.payload == b'{"a":1}' and msg.text == '{"a":1}'
    assert msg.frame is msg.frame
