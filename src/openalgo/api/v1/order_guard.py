"""What every order-creating route wraps its service call in: idempotency, the order log and the
per-stage timings.

    @route(router, endpoint("placeorder"))
    async def placeorder(body: PlaceOrderRequest, user: ApiUser, guard: OrderGuardDep) -> Any:
        return await guard.run(
            user_id=user.id, endpoint="placeorder", body=body, mode=user.mode, venue=venue.name,
            call=lambda: orders.place(venue, body.to_request()),
        )

If the intent cannot be written (database down), ``run`` answers 503 and the venue is never called.
``run`` answers a repeated ``Idempotency-Key`` with the stored response (header
``Idempotent-Replayed: true``) without calling ``call``; otherwise it commits the intent, calls
``call`` (the only step that reaches a venue), commits the outcome and returns ``call``'s model.
An `OpenAlgoError` from ``call`` is recorded, then re-raised for the error handler; so is any other
exception, as a 500. A cancelled request (server shutdown) leaves its intent ``pending``, which the
next start marks ``unknown``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from openalgo.api.deps import get_runtime
from openalgo.api.errors import error_body, response_mode
from openalgo.api.middleware.monitoring import ORDER_TIMING, REQUEST_START
from openalgo.api.v1.schemas.common import ApiRequest
from openalgo.errors import OpenAlgoError, ServiceUnavailable, ValidationFailed
from openalgo.services.monitoring import OrderTiming
from openalgo.services.order_journal import OrderContext, OrderJournal, Replay

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as header values travel safely


def checked_key(key: str | None) -> str | None:
    """``key`` if it is a usable Idempotency-Key (or absent); a 400 naming the header if not."""
    if key is not None and not _KEY.match(key):
        problem = "must be 1 to 255 visible ASCII characters"
        raise ValidationFailed(
            f"{IDEMPOTENCY_HEADER}: {problem}", errors={IDEMPOTENCY_HEADER: [problem]}
        )
    return key


class OrderGuard:
    def __init__(self, request: Request, journal: OrderJournal, key: str | None) -> None:
        self.request = request
        self.journal = journal
        self.key = key

    async def run(
        self,
        *,
        user_id: int,
        endpoint: str,
        body: ApiRequest,
        call: Callable[[], Awaitable[BaseModel]],
        mode: str = "live",
        venue: str = "unknown",
    ) -> BaseModel | JSONResponse:
        entered = time.perf_counter()
        state: dict[str, Any] = self.request.scope.setdefault("state", {})
        arrived = state.get(REQUEST_START, entered)
        ctx = OrderContext(
            user_id=user_id,
            endpoint=endpoint,
            payload=body.payload(),
            mode=mode,
            venue=venue,
            idempotency_key=self.key,
        )
        try:
            intent = await self.journal.begin(ctx)
        except (SQLAlchemyError, OSError) as exc:  # OSError: refused connections, timeouts
            # No intent on disk, no order: an order the log cannot see must not reach a broker.
            raise ServiceUnavailable(
                "The order log is unavailable, so the order was not placed; retry shortly"
            ) from exc
        if isinstance(intent, Replay):
            return JSONResponse(
                status_code=intent.status, content=intent.body, headers={REPLAYED_HEADER: "true"}
            )
        timing = OrderTiming(
            endpoint=endpoint,
            venue=venue,
            created_at=self.journal.clock.now(),
            validation_ms=(entered - arrived) * 1000,
            user_id=user_id,
            order_log_id=intent.order_log_id,
        )
        called = time.perf_counter()
        try:
            result = await call()
        except OpenAlgoError as exc:
            self._venue_done(timing, called, state)
            failure = exc.body()
            mode_marker = response_mode(self.request)
            if mode_marker and "mode" not in failure:
                failure["mode"] = mode_marker
            await self.journal.finish(
                intent, status=exc.status_code, body=failure, venue_ms=timing.venue_ms
            )
            raise
        except Exception:
            self._venue_done(timing, called, state)
            failure = error_body("Internal server error", mode=response_mode(self.request))
            await self.journal.finish(intent, status=500, body=failure, venue_ms=timing.venue_ms)
            raise
        self._venue_done(timing, called, state)
        outcome = result.model_dump(mode="json")
        if intent.idempotency_id is None:
            # Nobody replays it: the response need not wait for its commit (`finish_soon`).
            self.journal.finish_soon(intent, status=200, body=outcome, venue_ms=timing.venue_ms)
        else:
            await self.journal.finish(intent, status=200, body=outcome, venue_ms=timing.venue_ms)
        return result

    @staticmethod
    def _venue_done(timing: OrderTiming, called: float, state: dict[str, Any]) -> None:
        timing.venue_done = time.perf_counter()
        timing.venue_ms = (timing.venue_done - called) * 1000
        state[ORDER_TIMING] = timing


async def get_order_guard(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Any unique string (a UUID is ideal), at most 255 visible ASCII "
            "characters. A repeat with the same key and body returns the first response without "
            "placing again; the same key with another body is a 409. Kept 24 hours.",
        ),
    ] = None,
) -> OrderGuard:
    # One dependency with no sub-dependencies: FastAPI re-solves every node of a dependency's
    # tree on each reference, at some microseconds each, on every order request.
    return OrderGuard(request, get_runtime(request).journal, checked_key(key))


OrderGuardDep = Annotated[OrderGuard, Depends(get_order_guard)]
