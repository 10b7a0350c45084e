"""Master CSV files: good rows load, every kind of bad row is named, nothing half-loads."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from openalgo.domain.enums import InstrumentType
from openalgo.services.instrument_master import (
    COLUMNS,
    MasterFileError,
    parse_master_csv,
    to_csv_row,
)
from tests.support.instruments import equity, future, option

TODAY = date(2026, 11, 28)
HEADER = ",".join(COLUMNS)


def csv(*rows: str) -> list[str]:
    return [HEADER + "\n", *(r + "\n" for r in rows)]


GOOD = [
    "SBIN,SBIN-EQ,STATE BANK,NSE,NSE,3045,,-0.01,1,EQ,0.05",
    "NIFTY,NIFTY 50,NIFTY 50,NSE_INDEX,NSE,256265,,0,1,,0.05",
    "NIFTY29DEC26FUT,NIFTY26DECFUT,whatever,NFO,NFO,111,29-DEC-26,0,75,FUTIDX,0.05",
    "VEDL29DEC26292.5CE,VEDL26DEC292.5CE,VEDL,NFO,NFO,222,29-DEC-26,292.5,1150,OPTSTK,0.05",
    "NIFTY24NOV2624000CE,X,NIFTY,NFO,NFO,333,24-NOV-26,24000,75,CE,0.05",
]


def test_parses_good_rows_and_skips_expired() -> None:
    parsed = parse_master_csv(csv(*GOOD), today=TODAY)
    assert parsed.rows == 5
    assert parsed.expired == 1
    by_symbol = {i.symbol: i for i in parsed.instruments}
    assert by_symbol["SBIN"].instrument_type is InstrumentType.EQ
    assert by_symbol["NIFTY"].instrument_type is InstrumentType.INDEX
    fut = by_symbol["NIFTY29DEC26FUT"]
    assert (fut.instrument_type, fut.name, fut.expiry) == (
        InstrumentType.FUT,
        "NIFTY",
        date(2026, 12, 29),
    )
    opt = by_symbol["VEDL29DEC26292.5CE"]
    assert (opt.instrument_type, opt.strike, opt.lot_size) == (
        InstrumentType.CE,
        Decimal("292.5"),
        1150,
    )


def test_round_trips_through_csv_rows() -> None:
    rows = [
        equity("SBIN"),
        future("NIFTY", date(2026, 12, 29)),
        option("NIFTY", date(2026, 12, 29), 26000, "PE"),
    ]
    lines = csv(*(",".join(to_csv_row(r)) for r in rows))
    assert parse_master_csv(lines, today=TODAY).instruments == rows


def test_missing_columns() -> None:
    with pytest.raises(MasterFileError, match="missing columns: lotsize, tick_size"):
        parse_master_csv(
            ["symbol,brsymbol,name,exchange,brexchange,token,expiry,strike,instrumenttype\n"],
            today=TODAY,
        )
    with pytest.raises(MasterFileError, match="empty"):
        parse_master_csv([], today=TODAY)


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("sbin,x,x,NSE,NSE,1,,0,1,EQ,0.05", "line 3 (sbin): Malformed symbol 'sbin'"),
        ("SBIN,x,x,NSX,NSE,1,,0,1,EQ,0.05", "line 3 (SBIN): Unknown exchange 'NSX'"),
        ("NIFTY,x,x,NFO,NFO,1,,0,75,FUT,0.05", "line 3 (NIFTY): Malformed symbol 'NIFTY' for NFO"),
        (
            "NIFTY29DEC26FUT,x,x,NFO,NFO,1,30-DEC-26,0,75,FUT,0.05",
            "disagrees with the symbol's 29-DEC-26",
        ),
        ("NIFTY29DEC2626000CE,x,x,NFO,NFO,1,29-DEC-26,26050,75,CE,0.05", "strike column 26050"),
        (
            "NIFTY29DEC2626000CE,x,x,NFO,NFO,1,29-DEC-26,26000,75,PE,0.05",
            "does not fit a CE symbol",
        ),
        ("NIFTY29DEC26FUT,x,x,NFO,NFO,1,29-DEC-26,0,75,EQ,0.05", "does not fit a FUT symbol"),
        ("SBIN,x,x,NSE,NSE,1,,0,1,WARRANT,0.05", "unknown instrumenttype 'WARRANT'"),
        ("SBIN,x,x,NSE,NSE,,,0,1,EQ,0.05", "token is empty"),
        ("SBIN,x,x,NSE,NSE,1,,0,1.5,EQ,0.05", "lotsize '1.5' must be a whole number"),
        ("SBIN,x,x,NSE,NSE,1,,0,lots,EQ,0.05", "lotsize 'lots' is not a number"),
        ("SBIN,x,x,NSE,NSE,1,,0,1,EQ,0", "tick_size '0' must be positive"),
        ("SBIN,x,x,NSE", "line 3: 4 fields, the header has 11"),
        (
            "SBIN,SBIN-EQ,STATE BANK,NSE,NSE,3045,,-0.01,1,EQ,0.05",
            "line 3: SBIN on NSE repeats line 2",
        ),
    ],
)
def test_bad_rows_name_the_line_and_symbol(row: str, fragment: str) -> None:
    with pytest.raises(MasterFileError) as info:
        parse_master_csv(csv(GOOD[0], row, *GOOD[1:]), today=TODAY)
    assert fragment in info.value.message
    assert info.value.status_code == 400
