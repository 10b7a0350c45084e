"""What streaming needs from the rest of the service, as small Protocols.

The WebSocket layer authenticates with an API key, checks that instruments exist and asks a feed
to (un)subscribe upstream. Those services live elsewhere (API keys in ``security``, the instrument
master and the simulator in ``brokers``); the lead wires real implementations in the lifespan:

- `Authenticator`: the API-key service (`verify(api_key)`), adapted to return a `StreamPrincipal`.
- ``openalgo.domain.instruments.InstrumentLookup``: the instrument repository (`resolve`).
- `FeedResolver`: which `Feed` serves a user: the shared simulator feed, or the user's broker feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from openalgo.domain.enums import TickMode
from openalgo.domain.instruments import InstrumentLookup


@dataclass(frozen=True, slots=True)
class StreamPrincipal:
    """Who a WebSocket session acts for, as the API-key service reports it."""

    user_id: int
    username: str
    broker: str  # the user's active broker ("simulator" when none is logged in)
    analyzer_mode: bool = False


class Authenticator(Protocol):
    async def authenticate(self, api_key: str, address: str = "-") -> StreamPrincipal | None:
        """The principal for a valid key, None for an unknown or revoked one. Must not raise.

        ``address`` is the peer (``host:port``), so failures count towards a ban."""
        ...


class FeedError(Exception):
    """An upstream feed refused a subscription; ``code`` is reported in the ack entry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Feed(Protocol):
    """The hub's view of one upstream market-data feed.

    The hub holds at most one upstream mode per (exchange, symbol): the highest any session needs.
    An upgrade is ``subscribe(new)`` then ``unsubscribe(old)``; a downgrade is ``subscribe(lower)``
    then ``unsubscribe(higher)``; a larger depth at the same mode is ``subscribe`` again with the new
    depth. Ticks come back over the tick bus with ``Tick.feed == feed``.
    """

    @property
    def feed(self) -> str:
        """Bus identity of the feed; scopes its ticks (``simulator``, ``zerodha:42``...)."""
        ...

    @property
    def broker(self) -> str: ...

    @property
    def depth_levels(self) -> frozenset[int]: ...

    @property
    def connected(self) -> bool: ...

    async def subscribe(self, symbol: str, exchange: str, mode: TickMode, depth: int) -> None:
        """Raise `FeedError` to refuse."""
        ...

    async def unsubscribe(self, symbol: str, exchange: str, mode: TickMode) -> None: ...


class FeedResolver(Protocol):
    async def feed_for(self, principal: StreamPrincipal) -> Feed:
        """The feed that serves this user; raise `FeedError` when there is none."""
        ...

    def supported_brokers(self) -> list[str]: ...


@dataclass
class SharedFeedResolver:
    """Every user is served by one shared feed (the built-in simulator)."""

    shared: Feed

    async def feed_for(self, principal: StreamPrincipal) -> Feed:
        return self.shared

    def supported_brokers(self) -> list[str]:
        return [self.shared.broker]


class UnwiredAuthenticator:
    """Refuses every key: the default until the API-key service is wired in the lifespan."""

    async def authenticate(self, api_key: str, address: str = "-") -> StreamPrincipal | None:
        return None


class UnwiredInstruments:
    """Knows no instrument: the default until the instrument master is wired."""

    async def resolve(self, symbol: str, exchange: str) -> None:
        return None


class UnwiredFeeds:
    """No feed: the default until the simulator (or a broker feed) is wired."""

    async def feed_for(self, principal: StreamPrincipal) -> Feed:
        raise FeedError("BROKER_ERROR", "No market data feed is configured")

    def supported_brokers(self) -> list[str]:
        return []


@dataclass
class StreamingSeams:
    """The three services streaming depends on, handed to `create_app` / the lifespan."""

    authenticator: Authenticator
    instruments: InstrumentLookup
    feeds: FeedResolver


def unwired_seams() -> StreamingSeams:
    return StreamingSeams(UnwiredAuthenticator(), UnwiredInstruments(), UnwiredFeeds())
