"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from openalgo.db.base import Base
from openalgo.db.models.instrument import InstrumentMaster, InstrumentRecord
from openalgo.db.models.user import User

__all__ = ["Base", "InstrumentMaster", "InstrumentRecord", "User"]
