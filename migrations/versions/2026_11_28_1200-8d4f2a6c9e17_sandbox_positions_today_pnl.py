"""Sandbox positions keep today's realised P&L: ``today_realized_pnl`` for the day ``realized_on``.

Why: `/funds` and `/positionbook` summed the day's trades per position at every read, so a read
slowed down with every trade of the day. The writer now keeps the sum on the position row, in the
transaction that records the fill (`brokers/sandbox/state.py`, `PositionState.book`).

The backfill files each existing position's realised P&L of the current session (trades since the
session's start, of the funds' current reset epoch) under the current session day, so upgrading in
the middle of a day does not zero the day's P&L. It runs in Python with exact decimals (SQLite
stores money as text and would sum it as binary floats). The session is the one the engine uses
(`OPENALGO_SANDBOX_SESSION_START_TIME`, `brokers/sandbox/sessions.py`), at the time of the upgrade.

Revision ID: 8d4f2a6c9e17
Revises: 5c1e0b7d2f93
Create Date: 2026-11-28 12:00:00.000000+00:00
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import openalgo.db.base
import openalgo.db.types

revision: str = "8d4f2a6c9e17"
down_revision: str | Sequence[str] | None = "5c1e0b7d2f93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money() -> openalgo.db.types.ExactDecimal:
    return openalgo.db.types.ExactDecimal(precision=18, scale=2)


def upgrade() -> None:
    with op.batch_alter_table("sandbox_positions") as batch:
        batch.add_column(
            sa.Column("today_realized_pnl", _money(), server_default="0.00", nullable=False)
        )
        batch.add_column(sa.Column("realized_on", sa.Date(), nullable=True))
    _backfill(datetime.now(UTC))


def _backfill(now: datetime) -> None:
    from openalgo.brokers.sandbox.config import parse_clock
    from openalgo.brokers.sandbox.sessions import session_day, session_start
    from openalgo.settings import Settings

    start = session_start(now, parse_clock(Settings().sandbox_session_start_time))
    day = session_day(start)
    key = ("ledger", "user_id", "symbol", "exchange", "product")
    trades = sa.table(
        "sandbox_trades",
        *(sa.column(name) for name in key),
        sa.column("realized_pnl", _money()),
        sa.column("epoch", sa.Integer()),
        sa.column("created_at", openalgo.db.base.UTCDateTime(timezone=True)),
    )
    funds = sa.table(
        "sandbox_funds",
        sa.column("ledger"),
        sa.column("user_id"),
        sa.column("reset_count", sa.Integer()),
    )
    positions = sa.table(
        "sandbox_positions",
        *(sa.column(name) for name in key),
        sa.column("today_realized_pnl", _money()),
        sa.column("realized_on", sa.Date()),
    )
    current_epoch = trades.join(
        funds,
        sa.and_(
            funds.c.ledger == trades.c.ledger,
            funds.c.user_id == trades.c.user_id,
            funds.c.reset_count == trades.c.epoch,
        ),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(*(trades.c[name] for name in key), trades.c.realized_pnl)
        .select_from(current_epoch)
        .where(trades.c.created_at >= start)
    ).all()
    sums: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[tuple(row[: len(key)])] += row.realized_pnl
    if not sums:
        return
    stmt = (
        sa.update(positions)
        .where(*(positions.c[name] == sa.bindparam(f"k_{name}") for name in key))
        .values(
            today_realized_pnl=sa.bindparam("pnl", type_=_money()),
            realized_on=sa.bindparam("day", type_=sa.Date()),
        )
    )
    bind.execute(
        stmt,
        [
            {f"k_{name}": value for name, value in zip(key, k, strict=True)}
            | {"pnl": pnl, "day": day}
            for k, pnl in sums.items()
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_positions") as batch:
        batch.drop_column("realized_on")
        batch.drop_column("today_realized_pnl")
