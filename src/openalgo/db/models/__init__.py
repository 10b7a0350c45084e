"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from openalgo.db.base import Base
from openalgo.db.models.instrument import InstrumentMaster, InstrumentRecord
from openalgo.db.models.monitoring import OrderLatency, RequestLog
from openalgo.db.models.order_log import IdempotencyKey, OrderLog
from openalgo.db.models.user import User

__all__ = [
    "Base",
    "IdempotencyKey",
    "InstrumentMaster",
    "InstrumentRecord",
    "OrderLatency",
    "OrderLog",
    "RequestLog",
    "User",
]
