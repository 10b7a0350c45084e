"""``openalgo serve`` runs the native WebSocket listener next to HTTP, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.processes import cli_env, free_port, run_cli, serving

pytestmark = pytest.mark.slow


def test_serve_runs_both_listeners(tmp_path: Path) -> None:
    port, ws_port = free_port(), free_port()
    with serving("--ws-port", str(ws_port), cwd=tmp_path, env=cli_env(tmp_path), port=port):

        async def probe(url: str) -> dict[str, object]:
            async with connect(url) as ws:
                await ws.send(json.dumps({"action": "authenticate", "api_key": "x" * 64}))
                reply: dict[str, object] = json.loads(await ws.recv())
                await ws.send(json.dumps({"action": "ping", "_pingId": 1}))
                assert json.loads(await ws.recv())["_pingId"] == 1
                # past the hard limit both listeners close with 1009 (uvicorn's ws_max_size)
                with contextlib.suppress(ConnectionClosed):  # the server may close mid-send
                    await ws.send("x" * (2 << 20))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
                return reply

        for url in (f"ws://127.0.0.1:{ws_port}/", f"ws://127.0.0.1:{port}/ws"):
            # a key nobody holds: refused by the real API-key service, cleanly
            assert asyncio.run(probe(url)) == {
                "status": "error",
                "code": "AUTHENTICATION_ERROR",
                "message": "Invalid API key",
            }


def test_busy_websocket_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        r = run_cli(
            "serve",
            "--port",
            str(free_port()),
            "--ws-port",
            str(busy),
            cwd=tmp_path,
            env=cli_env(tmp_path),
        )
    assert r.returncode == 2
    assert f"port {busy} on 127.0.0.1 is already in use" in r.stderr
    assert "Traceback" not in r.stderr


def test_same_port_twice_is_refused(tmp_path: Path) -> None:
    port = free_port()
    r = run_cli(
        "serve", "--port", str(port), "--ws-port", str(port), cwd=tmp_path, env=cli_env(tmp_path)
    )
    assert r.returncode == 2
    assert "must differ" in r.stderr
