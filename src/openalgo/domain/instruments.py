"""The instrument as every layer sees it, independent of how the master is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from openalgo.domain.enums import InstrumentType


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str  # OpenAlgo symbol: SBIN, NIFTY28NOV24FUT, NIFTY28NOV2424000CE
    exchange: str  # OpenAlgo exchange: NSE, NFO, NSE_INDEX, ...
    name: str  # underlying for derivatives, company or index name otherwise
    instrument_type: InstrumentType
    token: str  # the venue's instrument id
    broker_symbol: str
    broker_exchange: str
    lot_size: int = 1
    tick_size: Decimal = Decimal("0.05")
    expiry: date | None = None
    strike: Decimal | None = None

    @property
    def is_derivative(self) -> bool:
        return self.instrument_type in (InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE)

    @property
    def expiry_text(self) -> str:
        """Expiry as OpenAlgo returns it: ``28-NOV-24`` (empty for cash and indices)."""
        return self.expiry.strftime("%d-%b-%y").upper() if self.expiry else ""


class InstrumentLookup(Protocol):
    """Resolve OpenAlgo symbols; implemented by the instrument repository with a warm cache."""

    async def resolve(self, symbol: str, exchange: str) -> Instrument | None: ...
