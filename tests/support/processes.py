"""Running the real ``openalgo`` command and server as subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def cli_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with no OPENALGO_* leaking in from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENALGO_")}
    env["OPENALGO_DATA_DIR"] = str(data_dir)
    env["OPENALGO_LOG_LEVEL"] = "WARNING"
    env.update(extra or {})
    return env


def run_cli(
    *args: str, cwd: Path, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openalgo", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(
    *args: str, cwd: Path, env: Mapping[str, str], port: int, timeout: float = 20
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``openalgo serve`` and wait until /health answers; stop it afterwards."""
    env = dict(env)
    env.setdefault("OPENALGO_WS_PORT", str(free_port()))  # never the shared default 8765
    proc = subprocess.Popen(
        [sys.executable, "-m", "openalgo", "serve", "--port", str(port), *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"server exited with {proc.returncode}: {out}\n{err}")
            try:
                if httpx.get(f"{base}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not answer /health in time")
            time.sleep(0.1)
        yield proc, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
