"""Column types beyond the ones in `db.base`.

`ExactDecimal` exists because SQLite has no decimal type: a NUMERIC column there has "numeric
affinity" and stores 12.35 as a binary float, so sums and round trips can drift by fractions of a
paisa. PostgreSQL gets a real NUMERIC(p, s); SQLite gets the canonical decimal text. The ledger never
does arithmetic in SQL on these columns (it computes in Python under row locks and writes the result
with a compare-and-set), so text storage costs nothing there.

Values must already be on the column's scale: a value with more decimals is a bug in the caller's
rounding, and storing it rounded would make the database disagree with the ledger in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    # The processors are closures rather than process_bind_param/process_result_value: the ledger
    # binds tens of these per order, and the generic TypeDecorator wrappers cost more than the work.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        quantum = self._quantum
        scale = self.scale
        as_text = dialect.name == "sqlite"

        def process(value: Any) -> Any:
            if value is None:
                return None
            if value.__class__ is not Decimal:
                if isinstance(value, bool) or not isinstance(value, Decimal | int):
                    raise TypeError(
                        f"ExactDecimal column needs Decimal or int, got {type(value).__name__}"
                    )
                value = Decimal(value)
            on_scale = value.quantize(quantum)
            if on_scale != value:
                raise ValueError(f"{value} has more than {scale} decimals")
            if not on_scale:
                on_scale = abs(on_scale)  # no "-0" on disk
            return format(on_scale, "f") if as_text else on_scale

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        def process(value: Any) -> Decimal | None:
            if value is None or value.__class__ is Decimal:
                return value
            return Decimal(str(value))

        return process
