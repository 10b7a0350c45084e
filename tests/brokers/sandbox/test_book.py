"""The matcher's index on its own: what each price wakes, and nothing else."""

from __future__ import annotations

from decimal import Decimal

from openalgo.brokers.sandbox.book import GttLeg, Resting, RestingBook

KEY = ("NSE", "SBIN")


def resting(
    orderid: str,
    *,
    buy: bool,
    price: str = "0",
    trigger: str = "0",
    kind: str = "LIMIT",
    triggered: bool = False,
    version: int = 0,
) -> Resting:
    return Resting(
        orderid=orderid,
        user_id=1,
        version=version,
        key=KEY,
        buy=buy,
        price=Decimal(price),
        trigger=Decimal(trigger),
        stop=kind in ("SL", "SL-M"),
        stop_market=kind == "SL-M",
        triggered=triggered,
    )


def woken(book: RestingBook, ltp: float) -> list[tuple[str, str]]:
    return [
        (c.kind, c.order.orderid if c.order else c.gtt.gtt_id)  # type: ignore[union-attr]
        for c in book.cross(KEY, ltp)
    ]


def test_limits_fill_when_the_price_reaches_them_at_their_own_price() -> None:
    book = RestingBook()
    book.add_order(resting("b1", buy=True, price="99"))
    book.add_order(resting("b2", buy=True, price="98"))
    book.add_order(resting("s1", buy=False, price="101"))
    assert woken(book, 100.0) == []
    crossed = book.cross(KEY, 98.5)
    assert [(c.kind, c.order.orderid, c.price) for c in crossed] == [  # type: ignore[union-attr]
        ("fill", "b1", Decimal("99"))
    ]
    assert woken(book, 101.0) == [("fill", "s1")]
    assert woken(book, 97.0) == [("fill", "b2")]
    assert woken(book, 50.0) == []  # each order is handed out once
    assert len(book.orders) == 0


def test_stops_trigger_on_the_far_side() -> None:
    book = RestingBook()
    book.add_order(resting("buy-stop", buy=True, trigger="105", kind="SL-M"))
    book.add_order(resting("sell-stop", buy=False, trigger="95", kind="SL-M"))
    book.add_order(resting("sl", buy=True, price="106", trigger="105", kind="SL"))
    assert woken(book, 104.95) == []
    # SL-M fills at the market (price None); the SL's limit 106 is beyond 107: it only triggers.
    crossed = book.cross(KEY, 107.0)
    assert [(c.kind, c.order.orderid, c.price) for c in crossed] == [  # type: ignore[union-attr]
        ("fill", "buy-stop", None),
        ("trigger", "sl", None),
    ]
    assert woken(book, 95.0) == [("fill", "sell-stop")]


def test_triggered_stop_limit_rests_as_a_limit() -> None:
    book = RestingBook()
    book.add_order(resting("sl", buy=True, price="106", trigger="105", kind="SL", triggered=True))
    assert woken(book, 107.0) == []
    assert woken(book, 106.0) == [("fill", "sl")]


def test_removed_and_replaced_orders_are_not_woken() -> None:
    book = RestingBook()
    book.add_order(resting("a", buy=True, price="99"))
    book.add_order(resting("b", buy=True, price="99"))
    assert book.remove_order("a") is None  # b still rests on the symbol
    book.add_order(resting("b", buy=True, price="90", version=1))  # modified: new price
    assert woken(book, 95.0) == []
    assert book.remove_order("b") == KEY  # nothing left
    assert book.remove_order("b") is None
    assert book.symbols() == []


def test_oco_legs_leave_together() -> None:
    book = RestingBook()
    legs = [
        GttLeg(
            gtt_id="g", user_id=1, version=0, key=KEY, leg=1, above=False, trigger=Decimal("95")
        ),
        GttLeg(
            gtt_id="g", user_id=1, version=0, key=KEY, leg=2, above=True, trigger=Decimal("105")
        ),
    ]
    assert book.add_gtt(legs)
    assert woken(book, 100.0) == []
    assert woken(book, 105.0) == [("gtt", "g")]
    assert woken(book, 90.0) == []  # the sibling went with it
    assert book.symbols() == []


def test_many_cancellations_are_compacted() -> None:
    book = RestingBook()
    for n in range(300):
        book.add_order(resting(f"o{n}", buy=True, price=str(50 + n % 40)))
    for n in range(250):
        book.remove_order(f"o{n}")
    inner = book.books[KEY]
    assert inner.live == 50
    assert len(inner.buy_limit) < 300  # dead entries were dropped
    assert len(woken(book, 1.0)) == 50
