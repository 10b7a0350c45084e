"""Traffic and latency records, written in batches off the request path (see services/monitoring).

Not user-owned data in the usual sense: ``user_id`` is recorded when known, without a foreign key,
so a burst of rows never waits on the users table and deleting a user keeps the history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, IdMixin, UTCDateTime


class RequestLog(IdMixin, Base):
    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_created_at", "created_at"),
        Index("ix_request_log_route_created_at", "route", "created_at"),
    )

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    route: Mapped[str] = mapped_column(String(200), nullable=False)  # path template
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger)


class OrderLatency(IdMixin, Base):
    """Where one order request spent its time: validation, the venue call, the response."""

    __tablename__ = "order_latency"
    __table_args__ = (Index("ix_order_latency_endpoint_created_at", "endpoint", "created_at"),)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(32), nullable=False)
    venue: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    validation_ms: Mapped[float] = mapped_column(Float, nullable=False)
    venue_ms: Mapped[float] = mapped_column(Float, nullable=False)
    response_ms: Mapped[float] = mapped_column(Float, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, nullable=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    order_log_id: Mapped[int | None] = mapped_column(BigInteger)
