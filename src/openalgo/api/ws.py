"""``/ws`` on the main port: the same OpenAlgo WebSocket protocol through FastAPI.

Browsers behind one reverse-proxied origin and clients that cannot reach the WebSocket port use
this path; the SDK's default is the native listener on ``OPENALGO_WS_PORT``. Both share the hub,
so a tick is serialized once for sessions on either. Delivery here costs one ASGI send per message
(uvicorn's interface has no batch write), so the native listener is the faster of the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from openalgo.api.deps import get_runtime
from openalgo.streaming.messages import Message

log = logging.getLogger("openalgo.api.ws")

router = APIRouter()
CLOSE_TIMEOUT = 1.0


class AsgiTransport:
    """`SessionTransport` over a Starlette WebSocket."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        client = websocket.client
        self.peer = f"{client.host}:{client.port}" if client else "-"
        self.direct = False
        self._receiving: asyncio.Future[Any] | None = None
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None

    async def send(self, messages: list[Message]) -> None:
        send = self.websocket.send
        for message in messages:
            if self._closed:
                raise ConnectionError("connection closed")
            await send({"type": "websocket.send", "text": message.text})

    def write_now(self, messages: list[Message]) -> bool:
        return False  # ASGI sends are awaited: the session's sender task does them

    def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self._receiving is not None:
            self._receiving.cancel()
        self._close_task = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # A stalled peer never drains, and uvicorn waits for that before writing the close frame;
        # give up after a moment. The session is already gone from the hub either way.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.websocket.close(code, reason)

    async def receive(self) -> str | bytes | None:
        if self._closed:
            return None
        receiving = self._receiving = asyncio.ensure_future(self.websocket.receive())
        try:
            message = await receiving
        except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            if self._closed:
                return None
            raise
        finally:
            self._receiving = None
        assert isinstance(message, dict)
        if message["type"] == "websocket.disconnect":
            self._closed = True
            return None
        text = message.get("text")
        if text is not None:
            assert isinstance(text, str)
            return text
        data = message.get("bytes")
        return data if isinstance(data, bytes) else b""


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    streaming = get_runtime(websocket).streaming
    if streaming is None:  # pragma: no cover - the lifespan always creates it
        await websocket.close(1011, "streaming is not running")
        return
    await websocket.accept()
    transport = AsgiTransport(websocket)
    try:
        await streaming.run_connection(transport, transport.receive)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        transport.close(1000, "")
