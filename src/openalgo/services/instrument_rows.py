"""The instrument master as OpenAlgo's clients read it: ``/symbol``, ``/search`` and
``/instruments`` rows (JSON or CSV), and ``/expiry`` lists.

OpenAlgo's ``symtoken`` columns are ``symbol, brsymbol, name, exchange, brexchange, token, expiry,
strike, lotsize, instrumenttype, tick_size``; expiries read ``DD-MMM-YY`` (``28-NOV-24``, empty for
instruments that do not expire), and strikes are 0 for anything that is not an option.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

from openalgo.domain.enums import FNO_EXCHANGES, Exchange
from openalgo.domain.instruments import Instrument
from openalgo.errors import ValidationFailed
from openalgo.services.instrument_cache import InstrumentCache
from openalgo.services.option_symbols import freeze_quantity

ROW_COLUMNS: tuple[str, ...] = (
    "symbol",
    "brsymbol",
    "name",
    "exchange",
    "brexchange",
    "token",
    "expiry",
    "strike",
    "lotsize",
    "instrumenttype",
    "tick_size",
)


def instrument_row(item: Instrument) -> dict[str, Any]:
    """One master row, keyed as OpenAlgo keys it."""
    return {
        "symbol": item.symbol,
        "brsymbol": item.broker_symbol,
        "name": item.name,
        "exchange": item.exchange,
        "brexchange": item.broker_exchange,
        "token": item.token,
        "expiry": item.expiry_text,
        "strike": float(item.strike) if item.strike is not None else 0.0,
        "lotsize": item.lot_size,
        "instrumenttype": item.instrument_type.value,
        "tick_size": float(item.tick_size),
    }


def symbol_row(item: Instrument) -> dict[str, Any]:
    """A ``/symbol`` and ``/search`` row: the master row plus ``freeze_qty`` (the same figure
    ``/optionsymbol`` gives: NSE's and BSE's limits for index options, else 1 as in OpenAlgo)."""
    return {**instrument_row(item), "freeze_qty": freeze_quantity(item)}


def instruments_csv(items: Iterable[Instrument]) -> str:
    """``/instruments?format=csv``: a header line, then one line per instrument."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ROW_COLUMNS)
    for item in items:
        row = instrument_row(item)
        writer.writerow(row[column] for column in ROW_COLUMNS)
    return out.getvalue()


def expiries(
    cache: InstrumentCache,
    underlying: str,
    exchange: Exchange,
    kind: Literal["futures", "options"],
    *,
    today: date,
) -> list[date]:
    """``/expiry``: unexpired expiries of ``underlying``'s futures or options, ascending.

    An underlying with neither futures nor options on the exchange is a 400 naming ``symbol``
    (OpenAlgo answers success with an empty list, so a misspelt name looks like "no expiries").
    """
    if exchange not in FNO_EXCHANGES:  # the schema allows only F&O exchanges; kept for callers
        raise ValidationFailed.field("exchange", f"{exchange.value} has no expiring contracts")
    futures = cache.futures(underlying, exchange.value)
    options = cache.option_expiries(underlying, exchange.value)
    if not futures and not options:
        raise ValidationFailed.field(
            "symbol", f"no futures or options of {underlying} on {exchange.value}"
        )
    if kind == "futures":
        return sorted({f.expiry for f in futures if f.expiry is not None and f.expiry >= today})
    return [d for d in options if d >= today]


def expiry_text(day: date) -> str:
    return day.strftime("%d-%b-%y").upper()
