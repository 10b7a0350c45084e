"""``openalgo apikey`` and ``openalgo bans``, run for real in subprocesses, and a running server
that sees what the CLI changed."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import cli_env, free_port, run_cli, serving

pytestmark = pytest.mark.slow
PASSWORD = "Str0ng!pass"
KEY_LINE = re.compile(r"^[0-9a-f]{64}\n$")


def _one_line_error(result: object, fragment: str) -> None:
    import subprocess

    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


def _with_alice(where: Path) -> dict[str, str]:
    environment = cli_env(where / "data")
    created = run_cli(
        "user", "create", "--username", "alice", "--password", PASSWORD, cwd=where, env=environment
    )
    assert created.returncode == 0, created.stderr
    return environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return _with_alice(tmp_path)


@pytest.fixture(scope="module")
def unchanged_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """For commands that fail and change nothing: one installation for all of them."""
    where = tmp_path_factory.mktemp("cli")
    return where, _with_alice(where)


@pytest.mark.parametrize(
    "command",
    [
        ["apikey"],
        ["apikey", "create"],
        ["apikey", "revoke"],
        ["apikey", "rotate"],
        ["apikey", "list"],
        ["bans"],
        ["bans", "list"],
        ["bans", "lift"],
    ],
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    r = run_cli(*command, "--help", cwd=tmp_path, env=cli_env(tmp_path))
    assert r.returncode == 0
    assert r.stdout.startswith("usage: openalgo")


def test_key_lifecycle(tmp_path: Path, env: dict[str, str]) -> None:
    created = run_cli(
        "apikey", "create", "--username", "alice", "--name", "tv", cwd=tmp_path, env=env
    )
    assert created.returncode == 0, created.stderr
    assert KEY_LINE.match(created.stdout), created.stdout  # the key and nothing else
    key = created.stdout.strip()

    listed = run_cli("apikey", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0
    assert key not in listed.stdout
    assert key[:8] in listed.stdout and "alice" in listed.stdout and "never" in listed.stdout
    assert "active" in listed.stdout

    rotated = run_cli("apikey", "rotate", "--username", "alice", cwd=tmp_path, env=env)
    assert KEY_LINE.match(rotated.stdout)
    new_key = rotated.stdout.strip()
    assert new_key != key

    second = run_cli(
        "apikey", "create", "--username", "alice", cwd=tmp_path, env=env
    ).stdout.strip()
    ambiguous = run_cli("apikey", "rotate", "--username", "alice", cwd=tmp_path, env=env)
    _one_line_error(ambiguous, "has 2 active keys: pass --prefix")

    revoked = run_cli(
        "apikey", "revoke", "--username", "alice", "--prefix", second[:8], cwd=tmp_path, env=env
    )
    assert revoked.stdout == "revoked 1 key of 'alice'\n"
    everything = run_cli("apikey", "revoke", "--username", "alice", "--all", cwd=tmp_path, env=env)
    assert everything.stdout == "revoked 1 key of 'alice'\n"
    statuses = run_cli("apikey", "list", "--username", "alice", cwd=tmp_path, env=env).stdout
    assert statuses.count("revoked") == 3 and " active" not in statuses

    # Nothing secret reached the database in clear.
    db = tmp_path / "data" / "openalgo.db"
    with sqlite3.connect(db) as conn:
        rows = repr(conn.execute("SELECT * FROM api_keys").fetchall())
    for plaintext in (key, new_key, second):
        assert plaintext not in rows


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["apikey", "create", "--username", "bob"], "no user 'bob'"),
        (["apikey", "rotate", "--username", "alice"], "has no active API key"),
        (
            ["apikey", "revoke", "--username", "alice", "--prefix", "abcd1234"],
            "no active API key with prefix",
        ),
        (
            ["apikey", "revoke", "--username", "alice"],
            "one of the arguments --prefix --all is required",
        ),
        (["apikey", "create"], "--username"),
        (["apikey", "list", "--username", "bob"], "no user 'bob'"),
        (["bans", "lift", "127.0.0.5"], "127.0.0.5 is not banned"),
        (["bans", "lift"], "one of the arguments address --all is required"),
    ],
)
def test_mistakes_are_one_line_errors(
    unchanged_env: tuple[Path, dict[str, str]], args: list[str], fragment: str
) -> None:
    where, env = unchanged_env
    _one_line_error(run_cli(*args, cwd=where, env=env), fragment)


def test_running_server_sees_cli_changes(tmp_path: Path, env: dict[str, str]) -> None:
    server_env = {
        **env,
        "OPENALGO_BAN_EXEMPT": "",
        "OPENALGO_BAN_APIKEY_THRESHOLD": "3",
        "OPENALGO_AUTH_SYNC_INTERVAL": "0.2",
    }
    key = run_cli("apikey", "create", "--username", "alice", cwd=tmp_path, env=env).stdout.strip()
    port = free_port()
    with serving(cwd=tmp_path, env=server_env, port=port) as (_proc, base):
        ping = f"{base}/api/v1/ping"
        assert httpx.post(ping, json={"apikey": key}).status_code == 200

        run_cli("apikey", "revoke", "--username", "alice", "--all", cwd=tmp_path, env=env)
        assert _eventually(lambda: httpx.post(ping, json={"apikey": key}).status_code == 403)

        # Three bad keys ban this address; the CLI lists the ban and lifts it.
        for i in range(3):
            httpx.post(ping, json={"apikey": f"{i:064x}"})
        assert httpx.get(f"{base}/health").status_code == 403
        listed = run_cli("bans", "list", cwd=tmp_path, env=env)
        assert "127.0.0.1" in listed.stdout and "3 invalid API keys" in listed.stdout
        lifted = run_cli("bans", "lift", "127.0.0.1", cwd=tmp_path, env=env)
        assert lifted.stdout == "lifted 1 ban\n"
        assert _eventually(lambda: httpx.get(f"{base}/health").status_code == 200)
        assert run_cli("bans", "list", cwd=tmp_path, env=env).stdout == "no active bans\n"


def _eventually(check: object, timeout: float = 5.0) -> bool:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
