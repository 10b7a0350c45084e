"""Which venue serves a request: the routing rule of analyzer mode, in one place.

- Orders and account calls: the sandbox ledger when the user's analyzer mode is on; otherwise the
  user's active broker. A new user's active broker is the built-in ``simulator``, whose own order
  API is the same paper-trading engine on a separate ledger.
- Market data always comes from the active broker, analyzer mode or not.

Real brokers plug in here (a registry keyed by broker name, built in the lifespan) when their
issues come; until then any other active broker is refused with a clear configuration error.
"""

from __future__ import annotations

from dataclasses import dataclass

from openalgo.brokers.base import BrokerConfigError, MarketData
from openalgo.brokers.sandbox.lifecycle import SANDBOX, SIMULATOR
from openalgo.brokers.sandbox.venue import SandboxVenue
from openalgo.errors import ServiceUnavailable
from openalgo.runtime import Runtime
from openalgo.security.apikeys import ApiPrincipal


@dataclass(frozen=True, slots=True)
class Routed:
    venue: SandboxVenue
    analyze: bool  # responses carry "mode": "analyze"


def trading_venue(runtime: Runtime, principal: ApiPrincipal) -> Routed:
    """The account that order and account endpoints act on for this user."""
    engines = runtime.sandbox
    if engines is None:
        raise ServiceUnavailable("the paper-trading engine is not running")
    if principal.analyzer_mode:
        return Routed(engines.venue(SANDBOX, principal.user_id), analyze=True)
    if principal.broker == SIMULATOR:
        return Routed(engines.venue(SIMULATOR, principal.user_id), analyze=False)
    raise BrokerConfigError(f"broker {principal.broker!r} is not available in this build")


def market_data(runtime: Runtime, principal: ApiPrincipal) -> MarketData:
    """Quotes, depth and history for this user: their active broker's."""
    if principal.broker == SIMULATOR:
        return runtime.simulator
    raise BrokerConfigError(f"broker {principal.broker!r} is not available in this build")
