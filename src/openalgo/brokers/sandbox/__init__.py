"""Paper trading with OpenAlgo's rules: the analyzer-mode sandbox and the simulator's own account.

`SandboxEngine` runs one ledger for all users; `SandboxVenue` is one user's account on it.
"""

from openalgo.brokers.sandbox.config import EngineTiming, SandboxConfig
from openalgo.brokers.sandbox.engine import SandboxEngine
from openalgo.brokers.sandbox.feed import CallbackFeed, MarketDataFor, NoFeed, PriceFeed
from openalgo.brokers.sandbox.invariants import check_ledger
from openalgo.brokers.sandbox.venue import SandboxVenue

__all__ = [
    "CallbackFeed",
    "EngineTiming",
    "MarketDataFor",
    "NoFeed",
    "PriceFeed",
    "SandboxConfig",
    "SandboxEngine",
    "SandboxVenue",
    "check_ledger",
]
