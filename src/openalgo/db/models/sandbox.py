"""The paper-trading ledger: orders, trades, positions, holdings, funds, GTT and config.

Every row is keyed by user and ledger. Two ledgers share these tables: ``sandbox`` (analyzer mode)
and ``simulator`` (the built-in broker's own account), so one engine serves both without mixing them.

Concurrency lives in the schema, not in process locks:
- `SandboxTrade` is unique per (ledger, orderid): an order can be filled once, whatever races.
- Orders, positions, holdings, funds and GTTs carry a ``version`` that every write compares and
  bumps, so a writer that read stale state fails instead of overwriting (see
  `brokers/sandbox/store.py`).
- `SandboxOrder.gtt_id` is unique: a GTT can place at most one child order.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime
from openalgo.db.types import ExactDecimal


def Money() -> ExactDecimal:
    return ExactDecimal(18, 2)


def Price() -> ExactDecimal:
    return ExactDecimal(18, 4)


def Cost() -> ExactDecimal:
    return ExactDecimal(22, 4)


def Quantity() -> ExactDecimal:
    return ExactDecimal(24, 8)


class _Owned:
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    ledger: Mapped[str] = mapped_column(String(16), nullable=False)


class SandboxOrder(IdMixin, TimestampMixin, _Owned, Base):
    __tablename__ = "sandbox_orders"
    __table_args__ = (
        UniqueConstraint("ledger", "orderid"),
        UniqueConstraint("ledger", "gtt_id"),
        Index(None, "user_id", "ledger", "created_at"),
        Index(None, "ledger", "status"),
    )

    orderid: Mapped[str] = mapped_column(String(20), nullable=False)
    strategy: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    exchange: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(4), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    pricetype: Mapped[str] = mapped_column(String(8), nullable=False)
    product: Mapped[str] = mapped_column(String(8), nullable=False)
    price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    trigger_price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    triggered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    margin_blocked: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    # The price the margin was computed at; the fill re-derives the position margin from it.
    margin_price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    average_price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    filled_quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    rejection_reason: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    instrument_type: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    expiry: Mapped[date | None] = mapped_column(Date, nullable=True)
    gtt_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SandboxTrade(IdMixin, _Owned, Base):
    __tablename__ = "sandbox_trades"
    __table_args__ = (
        UniqueConstraint("ledger", "tradeid"),
        # Exactly-once fills: a second trade for the same order cannot be written. (No foreign key
        # to the order: the writer inserts both in one transaction, and on PostgreSQL the per-row
        # referential check cost more than the rest of the batch; check_ledger verifies the link.)
        UniqueConstraint("ledger", "orderid"),
        Index(None, "user_id", "ledger", "created_at"),
    )

    tradeid: Mapped[str] = mapped_column(String(40), nullable=False)
    orderid: Mapped[str] = mapped_column(String(20), nullable=False)
    strategy: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    exchange: Mapped[str] = mapped_column(String(16), nullable=False)
    product: Mapped[str] = mapped_column(String(8), nullable=False)
    action: Mapped[str] = mapped_column(String(4), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    # P&L this trade booked by closing part of a position (0 for a trade that only opens).
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    # The funds reset counter when the trade happened; a reset starts a new epoch.
    epoch: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxPosition(IdMixin, TimestampMixin, _Owned, Base):
    __tablename__ = "sandbox_positions"
    __table_args__ = (UniqueConstraint("user_id", "ledger", "symbol", "exchange", "product"),)

    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    exchange: Mapped[str] = mapped_column(String(16), nullable=False)
    product: Mapped[str] = mapped_column(String(8), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)  # signed, net
    cost: Mapped[Decimal] = mapped_column(Cost(), nullable=False)  # of the open quantity, >= 0
    margin_blocked: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), nullable=False)  # since the last reset
    # Realised P&L of the session day ``realized_on`` (`brokers/sandbox/sessions.py`), kept by the
    # writer with each fill so that reads of today's P&L do not sum the day's trades. It counts
    # only while ``realized_on`` is the current session day: the first fill of a new day starts
    # it again, so nothing has to reset rows at the day's turn.
    today_realized_pnl: Mapped[Decimal] = mapped_column(
        Money(), nullable=False, server_default="0.00"
    )
    realized_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    last_price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    instrument_type: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    expiry: Mapped[date | None] = mapped_column(Date, nullable=True)
    opened_on: Mapped[date] = mapped_column(Date, nullable=False)  # IST trading day
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SandboxHolding(IdMixin, TimestampMixin, _Owned, Base):
    __tablename__ = "sandbox_holdings"
    __table_args__ = (UniqueConstraint("user_id", "ledger", "symbol", "exchange"),)

    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    exchange: Mapped[str] = mapped_column(String(16), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    cost: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    settled_on: Mapped[date] = mapped_column(Date, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SandboxFunds(IdMixin, TimestampMixin, _Owned, Base):
    __tablename__ = "sandbox_funds"
    __table_args__ = (UniqueConstraint("user_id", "ledger"),)

    capital: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    available: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    used_margin: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), nullable=False)  # since the last reset
    reset_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    settled_on: Mapped[date] = mapped_column(Date, nullable=False)  # last T+1 run (IST day)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SandboxGtt(IdMixin, TimestampMixin, _Owned, Base):
    __tablename__ = "sandbox_gtt"
    __table_args__ = (
        UniqueConstraint("ledger", "gtt_id"),
        Index(None, "ledger", "status"),
        Index(None, "user_id", "ledger", "created_at"),
    )

    gtt_id: Mapped[str] = mapped_column(String(40), nullable=False)
    trigger_type: Mapped[str] = mapped_column(String(8), nullable=False)  # single | two-leg
    strategy: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    exchange: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(4), nullable=False)
    product: Mapped[str] = mapped_column(String(8), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    pricetype: Mapped[str] = mapped_column(String(8), nullable=False)
    # Leg 1, stop-loss: fires when the price falls to the trigger. Leg 2, target: when it rises.
    trigger_sl: Mapped[Decimal | None] = mapped_column(Price(), nullable=True)
    price_sl: Mapped[Decimal | None] = mapped_column(Price(), nullable=True)
    trigger_tg: Mapped[Decimal | None] = mapped_column(Price(), nullable=True)
    price_tg: Mapped[Decimal | None] = mapped_column(Price(), nullable=True)
    last_price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    margin_blocked: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    fired_leg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    orderid: Mapped[str | None] = mapped_column(String(20), nullable=True)
    rejection_reason: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SandboxConfig(IdMixin, TimestampMixin, _Owned, Base):
    """Per-user overrides of the ``OPENALGO_SANDBOX_*`` defaults (one row per key)."""

    __tablename__ = "sandbox_config"
    __table_args__ = (UniqueConstraint("user_id", "ledger", "key"),)

    key: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[str] = mapped_column(String(64), nullable=False)
