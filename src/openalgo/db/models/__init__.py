"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from openalgo.db.base import Base
from openalgo.db.models.user import User

__all__ = ["Base", "User"]

from openalgo.db.models.api_key import ApiKey
from openalgo.db.models.broker_session import BrokerCredential, BrokerSession
from openalgo.db.models.security import ChangeCounter, IpBan, SecurityEvent
from openalgo.db.models.user_settings import UserSettings
from openalgo.db.models.web_session import WebSession

__all__ += [
    "ApiKey",
    "BrokerCredential",
    "BrokerSession",
    "ChangeCounter",
    "IpBan",
    "SecurityEvent",
    "UserSettings",
    "WebSession",
]
