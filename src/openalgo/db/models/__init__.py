"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from openalgo.db.base import Base
from openalgo.db.models.api_key import ApiKey
from openalgo.db.models.broker_session import BrokerCredential, BrokerSession
from openalgo.db.models.instrument import InstrumentMaster, InstrumentRecord
from openalgo.db.models.monitoring import OrderLatency, RequestLog
from openalgo.db.models.order_log import IdempotencyKey, OrderLog
from openalgo.db.models.sandbox import (
    SandboxConfig,
    SandboxFunds,
    SandboxGtt,
    SandboxHolding,
    SandboxOrder,
    SandboxPosition,
    SandboxTrade,
)
from openalgo.db.models.security import ChangeCounter, IpBan, SecurityEvent
from openalgo.db.models.user import User
from openalgo.db.models.user_settings import UserSettings
from openalgo.db.models.web_session import WebSession

__all__ = [
    "ApiKey",
    "Base",
    "BrokerCredential",
    "BrokerSession",
    "ChangeCounter",
    "IdempotencyKey",
    "InstrumentMaster",
    "InstrumentRecord",
    "IpBan",
    "OrderLatency",
    "OrderLog",
    "RequestLog",
    "SandboxConfig",
    "SandboxFunds",
    "SandboxGtt",
    "SandboxHolding",
    "SandboxOrder",
    "SandboxPosition",
    "SandboxTrade",
    "SecurityEvent",
    "User",
    "UserSettings",
    "WebSession",
]
