"""First start: seconds from ``make run`` on a fresh data dir to ``/health`` answering (issue 3).

The install is already done (``.venv`` exists); what is measured is everything a first start does:
create the data dir and secrets, migrate SQLite, generate and load the simulator's master, load the
instrument cache, start the server. Baseline in the same run: importing the app (the floor every
start pays). Run from the repository root:

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def first_start() -> float:
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENALGO_")}
        env.update(
            OPENALGO_DATA_DIR=data,
            OPENALGO_PORT=str(free_port()),
            OPENALGO_WS_PORT=str(free_port()),
            OPENALGO_LOG_LEVEL="WARNING",
        )
        url = f"http://127.0.0.1:{env['OPENALGO_PORT']}/health"
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # make and the server it starts, stopped together below
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"make run exited with {proc.returncode}")
                try:
                    if httpx.get(url, timeout=0.5).status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > 60:
                    raise RuntimeError("no /health within 60 s")
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)


def import_floor() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import openalgo.app, openalgo.cli"], check=True)
    return time.perf_counter() - started


def main() -> None:
    print(f"load average: {os.getloadavg()}")
    print(f"baseline: python -c 'import openalgo.app, openalgo.cli': {import_floor():.2f} s")
    figures = [first_start() for _ in range(ROUNDS)]
    print(
        "make run on a fresh data dir -> /health: "
        + ", ".join(f"{f:.2f} s" for f in figures)
        + f" (best {min(figures):.2f} s)"
    )


if __name__ == "__main__":
    main()
