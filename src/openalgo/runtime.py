"""The typed container of everything the lifespan creates.

Routers and dependencies read it from ``app.state.runtime``; nothing in the service is a module-level
singleton, so two apps (or two tests) never share an engine or a background task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.db.session import SessionMaker
from openalgo.domain.clock import Clock, SystemClock
from openalgo.settings import Settings

if TYPE_CHECKING:
    from openalgo.security.runtime import SecurityRuntime


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: SessionMaker
    read_sessionmaker: SessionMaker
    clock: Clock = field(default_factory=SystemClock)
    security: SecurityRuntime | None = None
