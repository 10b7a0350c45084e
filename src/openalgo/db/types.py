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

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"ExactDecimal column needs Decimal or int, got {type(value).__name__}")
        number = Decimal(value)
        on_scale = number.quantize(self._quantum)
        if on_scale != number:
            raise ValueError(f"{number} has more than {self.scale} decimals")
        if on_scale == 0:
            on_scale = abs(on_scale)  # no "-0" on disk
        return format(on_scale, "f") if dialect.name == "sqlite" else on_scale

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))
