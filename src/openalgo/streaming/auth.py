"""The WebSocket authenticate step, answered by the same API-key service as the REST API.

A banned address is refused before any key work (the native listener sits outside the HTTP
perimeter that bans apply to), and every bad key counts towards a ban, as on HTTP.
"""

from __future__ import annotations

import logging

from openalgo.security.runtime import SecurityRuntime
from openalgo.streaming.seams import StreamPrincipal

log = logging.getLogger("openalgo.streaming.auth")


class ApiKeyAuthenticator:
    def __init__(self, security: SecurityRuntime) -> None:
        self.security = security

    async def authenticate(self, api_key: str, address: str = "-") -> StreamPrincipal | None:
        host = _host(address)
        try:
            if self.security.bans.check(host, self.security.clock):
                return None
            principal = await self.security.authenticate(api_key, host)
        except Exception:  # must not raise: an outage reads as "not authenticated"
            log.exception("WebSocket authentication failed")
            return None
        if principal is None:
            return None
        return StreamPrincipal(
            user_id=principal.user_id,
            username=principal.username,
            broker=principal.broker,
            analyzer_mode=principal.analyzer_mode,
        )


def _host(peer: str) -> str:
    """``"1.2.3.4:5678"`` -> ``"1.2.3.4"``; ``"[::1]:80"`` or ``"::1:80"`` -> ``"::1"``."""
    if peer.startswith("["):
        return peer[1 : peer.index("]")] if "]" in peer else peer
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() else peer
