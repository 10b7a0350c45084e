"""ExactDecimal: exact on both databases, refusing floats and values past its scale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models import SandboxFunds, User


async def _user(session: AsyncSession) -> int:
    user = User(username="money", password_hash="x")
    session.add(user)
    await session.flush()
    return user.id


def _funds(user_id: int, available: object) -> SandboxFunds:
    return SandboxFunds(
        user_id=user_id,
        ledger="sandbox",
        capital=Decimal("10000000.00"),
        available=available,
        used_margin=Decimal("0"),
        realized_pnl=Decimal("-0.00"),
        settled_on=date(2026, 12, 14),
    )


async def test_round_trip_is_exact(session: AsyncSession) -> None:
    user_id = await _user(session)
    # 13 significant digits with paise: a binary float would not hold every one of them.
    session.add(_funds(user_id, Decimal("99999999999.99")))
    await session.flush()
    session.expunge_all()
    row = (await session.execute(select(SandboxFunds))).scalar_one()
    assert row.available == Decimal("99999999999.99")
    assert str(row.realized_pnl) in ("0.00", "0")  # never "-0.00"
    assert isinstance(row.capital, Decimal)


async def test_stored_form_is_exact_text_on_sqlite_and_numeric_on_postgresql(
    session: AsyncSession,
) -> None:
    user_id = await _user(session)
    session.add(_funds(user_id, Decimal("0.10")))
    await session.flush()
    stored = (await session.execute(text("SELECT available FROM sandbox_funds"))).scalar_one()
    if session.get_bind().dialect.name == "sqlite":
        assert stored == "0.10"
    else:
        assert stored == Decimal("0.10")


@pytest.mark.parametrize(
    ("value", "error"),
    [(0.1, "needs Decimal or int"), (Decimal("0.001"), "more than 2 decimals"), (True, "needs")],
)
async def test_floats_and_excess_decimals_are_refused(
    session: AsyncSession, value: object, error: str
) -> None:
    user_id = await _user(session)
    session.add(_funds(user_id, value))
    with pytest.raises(StatementError, match=error):
        await session.flush()
