"""The ``openalgo`` command, run for real in a subprocess."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from tests.support.processes import cli_env, free_port, run_cli, serving
from tests.support.services import provision_postgres, worker_suffix

pytestmark = pytest.mark.slow
GOOD = "Str0ng!pass"


def assert_one_line_error(result: object, fragment: str) -> None:
    import subprocess

    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["db", "current"],
        ["db", "check"],
        ["user"],
        ["user", "create"],
    ],
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    r = run_cli(*command, "--help", cwd=tmp_path, env=cli_env(tmp_path))
    assert r.returncode == 0
    assert r.stdout.startswith("usage: openalgo")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "--port", "abc"], "invalid int value"),
        (["dance"], "invalid choice"),
        (["db", "migrate"], "invalid choice"),
        (["user", "create", "--username", "x"], "--password"),
    ],
)
def test_bad_flags_are_one_line_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    assert_one_line_error(run_cli(*args, cwd=tmp_path, env=cli_env(tmp_path)), fragment)


def test_out_of_range_port(tmp_path: Path) -> None:
    r = run_cli("serve", "--port", "70000", cwd=tmp_path, env=cli_env(tmp_path))
    assert_one_line_error(r, "OPENALGO_PORT")


def test_unreachable_database(tmp_path: Path) -> None:
    env = cli_env(tmp_path, {"OPENALGO_DATABASE_URL": "postgresql://u:hidden@127.0.0.1:1/x"})
    for args in (["serve", "--port", str(free_port())], ["db", "upgrade"], ["db", "current"]):
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert_one_line_error(r, "cannot reach database postgresql+asyncpg://u:***@127.0.0.1:1/x")
        assert "hidden" not in r.stderr


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=cli_env(blocker / "data"))
    assert_one_line_error(r, "is not writable")


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        r = run_cli("serve", "--port", str(port), cwd=tmp_path, env=cli_env(tmp_path))
    assert_one_line_error(r, f"port {port} on 127.0.0.1 is already in use")


def test_production_without_secrets_refuses_to_start(tmp_path: Path) -> None:
    env = cli_env(tmp_path, {"OPENALGO_ENV": "production"})
    r = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert_one_line_error(r, "OPENALGO_SECRET_KEY and OPENALGO_PEPPER missing or a placeholder")


class TestUserCreate:
    def test_first_user_is_admin_then_errors(self, tmp_path: Path) -> None:
        env = cli_env(tmp_path)
        r = run_cli(
            "user", "create", "--username", "admin", "--password", GOOD, cwd=tmp_path, env=env
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "created user 'admin' (admin)"
        r = run_cli(
            "user", "create", "--username", "trader", "--password", GOOD, cwd=tmp_path, env=env
        )
        assert r.stdout.strip() == "created user 'trader'"
        dup = run_cli(
            "user", "create", "--username", "admin", "--password", GOOD, cwd=tmp_path, env=env
        )
        assert_one_line_error(dup, "user 'admin' already exists")

    def test_weak_password(self, tmp_path: Path) -> None:
        r = run_cli(
            "user",
            "create",
            "--username",
            "a1b",
            "--password",
            "weak",
            cwd=tmp_path,
            env=cli_env(tmp_path),
        )
        assert_one_line_error(r, "password too weak")
        assert not (tmp_path / "openalgo.db").exists()


class TestDbCommands:
    def test_upgrade_current_check_on_sqlite(self, tmp_path: Path) -> None:
        env = cli_env(tmp_path)
        before = run_cli("db", "current", cwd=tmp_path, env=env)
        assert (
            "(empty database)" in before.stdout and "needs `openalgo db upgrade`" in before.stdout
        )
        assert run_cli("db", "check", cwd=tmp_path, env=env).returncode == 1
        up = run_cli("db", "upgrade", cwd=tmp_path, env=env)
        assert up.returncode == 0 and "(head)" in up.stdout
        assert "up to date" in run_cli("db", "current", cwd=tmp_path, env=env).stdout
        check = run_cli("db", "check", cwd=tmp_path, env=env)
        assert check.returncode == 0, check.stderr
        assert "matches the models" in check.stdout

    def test_upgrade_check_on_postgresql_and_serve_refuses_old_schema(self, tmp_path: Path) -> None:
        url = asyncio.run(provision_postgres(f"openalgo_cli_{worker_suffix()}"))
        env = cli_env(tmp_path, {"OPENALGO_DATABASE_URL": url})
        refused = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
        assert_one_line_error(refused, "run `openalgo db upgrade` first")
        assert run_cli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
        check = run_cli("db", "check", cwd=tmp_path, env=env)
        assert check.returncode == 0, check.stderr
        port = free_port()
        with serving(cwd=tmp_path, env=env, port=port) as (_proc, base):
            assert httpx.get(f"{base}/ready").json() == {"status": "ready", "database": "ok"}


def test_serve_on_fresh_sqlite_serves_health_docs_openapi(tmp_path: Path) -> None:
    port = free_port()
    with serving(cwd=tmp_path, env=cli_env(tmp_path), port=port) as (proc, base):
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "openalgo"
        assert httpx.get(f"{base}/ready").status_code == 200
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"serving on http://127.0.0.1:{port}" in out
    assert (tmp_path / "openalgo.db").exists()
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
