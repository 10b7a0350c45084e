"""OpenAlgo's enumerations, exactly as clients spell them (upper case, case-sensitive)."""

from __future__ import annotations

from enum import StrEnum


class Exchange(StrEnum):
    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    CDS = "CDS"
    BCD = "BCD"
    MCX = "MCX"
    NCDEX = "NCDEX"
    NCO = "NCO"
    NSE_INDEX = "NSE_INDEX"
    BSE_INDEX = "BSE_INDEX"
    MCX_INDEX = "MCX_INDEX"
    GLOBAL_INDEX = "GLOBAL_INDEX"
    CRYPTO = "CRYPTO"


# Derivative segments: quantities must be lot multiples; CNC is not allowed.
FNO_EXCHANGES = frozenset(
    {
        Exchange.NFO,
        Exchange.BFO,
        Exchange.CDS,
        Exchange.BCD,
        Exchange.MCX,
        Exchange.NCDEX,
        Exchange.NCO,
        Exchange.CRYPTO,
    }
)
# Quote-only exchanges: index values, never tradable.
INDEX_EXCHANGES = frozenset(
    {Exchange.NSE_INDEX, Exchange.BSE_INDEX, Exchange.MCX_INDEX, Exchange.GLOBAL_INDEX}
)
CASH_EXCHANGES = frozenset({Exchange.NSE, Exchange.BSE})


class Product(StrEnum):
    CNC = "CNC"  # delivery equity
    NRML = "NRML"  # carry-forward derivatives
    MIS = "MIS"  # intraday, squared off automatically


class PriceType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-loss limit
    SL_M = "SL-M"  # stop-loss market


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Action.BUY else -1


class OrderStatus(StrEnum):
    """Order states as OpenAlgo responses spell them (lower case)."""

    OPEN = "open"
    TRIGGER_PENDING = "trigger pending"
    COMPLETE = "complete"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.COMPLETE, OrderStatus.REJECTED, OrderStatus.CANCELLED)


class InstrumentType(StrEnum):
    EQ = "EQ"
    INDEX = "INDEX"
    FUT = "FUT"
    CE = "CE"
    PE = "PE"

    @property
    def is_option(self) -> bool:
        return self in (InstrumentType.CE, InstrumentType.PE)


class OptionType(StrEnum):
    CE = "CE"
    PE = "PE"


class TickMode(StrEnum):
    """Streaming modes; each includes the ones below it (Depth > Quote > LTP)."""

    LTP = "LTP"
    QUOTE = "QUOTE"
    DEPTH = "DEPTH"

    @property
    def level(self) -> int:
        return {"LTP": 1, "QUOTE": 2, "DEPTH": 3}[self.value]

    @classmethod
    def from_level(cls, level: int) -> TickMode:
        return (cls.LTP, cls.QUOTE, cls.DEPTH)[level - 1]
