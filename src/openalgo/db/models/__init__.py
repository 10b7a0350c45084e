"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from openalgo.db.base import Base
from openalgo.db.models.sandbox import (
    SandboxConfig,
    SandboxFunds,
    SandboxGtt,
    SandboxHolding,
    SandboxOrder,
    SandboxPosition,
    SandboxTrade,
)
from openalgo.db.models.user import User

__all__ = [
    "Base",
    "SandboxConfig",
    "SandboxFunds",
    "SandboxGtt",
    "SandboxHolding",
    "SandboxOrder",
    "SandboxPosition",
    "SandboxTrade",
    "User",
]
