"""Running the official OpenAlgo Python SDK (PyPI ``openalgo``) against our server.

The SDK needs Python 3.12+ and is imported as ``openalgo``, the same name as this package, so it is
never imported here: ``make sdk-env`` installs it into ``.venv-sdk`` and tests run small scripts
with that interpreter in a subprocess (isolated mode, so our source tree is not on its path).
Without that venv the tests skip with the reason, or fail when OPENALGO_TEST_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[2]
SDK_VENV = ROOT / ".venv-sdk"
SDK_VERSION = "2.0.5"


def sdk_python() -> Path:
    """The SDK venv's interpreter; skips (or fails in CI) when it is missing."""
    python = SDK_VENV / "bin" / "python"
    marker = SDK_VENV / f".installed-{SDK_VERSION}"
    if python.exists() and marker.exists():
        return python
    reason = (
        f"OpenAlgo SDK {SDK_VERSION} venv missing at {SDK_VENV} (needs Python 3.12+; "
        "run `make sdk-env`)"
    )
    if REQUIRE_SERVICES:
        pytest.fail(f"OPENALGO_TEST_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@dataclass
class SdkRun:
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> Any:
        """The JSON document the script printed on its last stdout line."""
        assert self.returncode == 0, f"SDK script failed ({self.returncode}):\n{self.stderr}"
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"SDK script printed nothing:\n{self.stderr}"
        return json.loads(lines[-1])


async def run_sdk(script: str, *args: str, within: float = 60) -> SdkRun:
    """Run ``script`` with the SDK's interpreter without blocking the event loop (the server under
    test usually runs in it)."""
    python = sdk_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "OPENALGO_"))}
    proc = await asyncio.create_subprocess_exec(
        str(python),
        "-I",
        "-c",
        script,
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd="/",
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return SdkRun(-9, out.decode(), err.decode() + "\n(timed out)")
    assert proc.returncode is not None
    return SdkRun(proc.returncode, out.decode(), err.decode())
