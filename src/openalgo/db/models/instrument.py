"""The instrument master (OpenAlgo's ``symtoken``), one set of rows per broker.

Each broker's master is loaded whole and replaced per exchange; rows are never edited one by one.
``search_text`` is the upper-cased text that search matches (symbol, broker symbol, name, token);
the search index over it lives outside the ORM because it is backend-specific: an FTS5 trigram
table on SQLite and a pg_trgm GIN index on PostgreSQL (see the migration and
`openalgo.db.unmanaged`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, IdMixin, UTCDateTime, utcnow


class InstrumentRecord(IdMixin, Base):
    __tablename__ = "instruments"
    __table_args__ = (
        UniqueConstraint("broker", "exchange", "symbol"),
        Index("ix_instruments_broker_symbol", "broker", "symbol"),
        Index("ix_instruments_broker_token", "broker", "token"),
        Index("ix_instruments_broker_name_exchange_expiry", "broker", "name", "exchange", "expiry"),
    )

    broker: Mapped[str] = mapped_column(String(32), nullable=False)
    exchange: Mapped[str] = mapped_column(String(16), nullable=False)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    broker_symbol: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    broker_exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    instrument_type: Mapped[str] = mapped_column(String(8), nullable=False)
    expiry: Mapped[date | None] = mapped_column(Date, nullable=True)
    strike: Mapped[Decimal | None] = mapped_column(Numeric(18, 4), nullable=True)
    lot_size: Mapped[int] = mapped_column(Integer, nullable=False)
    tick_size: Mapped[Decimal] = mapped_column(Numeric(12, 4), nullable=False)
    search_text: Mapped[str] = mapped_column(String(512), nullable=False)


class InstrumentMaster(Base):
    """One row per broker: when its master was last loaded, from where, and how big it is.

    ``as_of`` is the trading date the master was built for; the simulator's generated master is
    rebuilt when it differs from today, so its expiries never go stale.
    """

    __tablename__ = "instrument_masters"

    broker: Mapped[str] = mapped_column(String(32), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    source: Mapped[str] = mapped_column(String(512), nullable=False)
