"""``openalgo instruments load`` and the master ``openalgo serve`` loads, run for real."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from openalgo.domain.clock import IST
from openalgo.services.instrument_master import COLUMNS
from tests.support.processes import cli_env, free_port, run_cli, serving
from tests.support.services import provision_postgres, worker_suffix
from tests.test_cli import assert_one_line_error

pytestmark = pytest.mark.slow
SUMMARY = re.compile(
    r"^loaded (\d+) instruments for (\w+) in \d+\.\d\d s \(([^)]*)\)(; skipped (\d+) expired contracts)?$"
)


def summary(stdout: str) -> tuple[int, str, dict[str, int], int]:
    """(total, broker, rows per exchange, expired) from the command's one summary line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    match = SUMMARY.match(lines[0])
    assert match is not None, lines[0]
    per = {}
    for part in match[3].split(", "):
        exchange, count = part.split(" ")
        per[exchange] = int(count)
    return int(match[1]), match[2], per, int(match[5] or 0)


def rows_in_sqlite(data_dir: Path, broker: str) -> dict[str, int]:
    with sqlite3.connect(data_dir / "openalgo.db") as db:
        found = db.execute(
            "SELECT exchange, count(*) FROM instruments WHERE broker = ? GROUP BY exchange",
            (broker,),
        ).fetchall()
    return dict(found)


def master_csv(path: Path, *, bad_line: int | None = None) -> Path:
    """A small master in OpenAlgo's export format, with expiries relative to today."""
    expiry = datetime.now(IST).date() + timedelta(days=60)
    code = expiry.strftime("%d%b%y").upper()
    text_expiry = expiry.strftime("%d-%b-%y").upper()
    rows = [
        "SBIN,SBIN-EQ,STATE BANK OF INDIA,NSE,NSE,3045,,-0.01,1,EQ,0.05",
        "INFY,INFY-EQ,INFOSYS,NSE,NSE,1594,,-0.01,1,EQ,0.05",
        "SBIN,SBIN,STATE BANK OF INDIA,BSE,BSE,500112,,-0.01,1,EQ,0.05",
        f"NIFTY{code}FUT,NIFTY{code}FUT,NIFTY,NFO,NFO,111,{text_expiry},0,75,FUTIDX,0.05",
        f"NIFTY{code}24000CE,NIFTY{code}24000CE,NIFTY,NFO,NFO,112,{text_expiry},24000,75,OPTIDX,0.05",
        "NIFTY05JAN2124000CE,OLD,NIFTY,NFO,NFO,113,05-JAN-21,24000,75,OPTIDX,0.05",  # expired
    ]
    if bad_line is not None:
        # data rows start on line 2; this one has a strike that is not the symbol's
        rows.insert(
            bad_line - 2, f"NIFTY{code}25000PE,X,NIFTY,NFO,NFO,114,{text_expiry},24000,75,PE,0.05"
        )
    path.write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


class TestLoadOnSqlite:
    def test_bundled_simulator_master_by_default(self, tmp_path: Path) -> None:
        r = run_cli(
            "instruments", "load", "--broker", "simulator", cwd=tmp_path, env=cli_env(tmp_path)
        )
        assert r.returncode == 0, r.stderr
        total, broker, per, expired = summary(r.stdout)
        assert broker == "simulator" and expired == 0
        assert total > 5000 and sum(per.values()) == total
        assert {"NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "NSE_INDEX", "BSE_INDEX"} == set(per)
        # progress (stderr is not a terminal here: one final bar)
        assert re.search(rf"loading simulator \[#{{30}}\] {total}/{total}", r.stderr), r.stderr
        assert rows_in_sqlite(tmp_path, "simulator") == per

    def test_file_loads_idempotently_and_a_bad_file_loads_nothing(self, tmp_path: Path) -> None:
        env = cli_env(tmp_path)
        good = master_csv(tmp_path / "good.csv")
        for _ in range(2):  # the second load replaces the first with the same rows
            r = run_cli(
                "instruments",
                "load",
                "--broker",
                "zerodha",
                "--file",
                str(good),
                cwd=tmp_path,
                env=env,
            )
            assert r.returncode == 0, r.stderr
            total, broker, per, expired = summary(r.stdout)
            assert (total, broker, per, expired) == (
                5,
                "zerodha",
                {"BSE": 1, "NFO": 2, "NSE": 2},
                1,
            )
            assert rows_in_sqlite(tmp_path, "zerodha") == per
        bad = master_csv(tmp_path / "bad.csv", bad_line=4)
        r = run_cli(
            "instruments", "load", "--broker", "zerodha", "--file", str(bad), cwd=tmp_path, env=env
        )
        assert_one_line_error(r, "Master file line 4 (NIFTY")
        assert "strike" in r.stderr
        assert rows_in_sqlite(tmp_path, "zerodha") == {"BSE": 1, "NFO": 2, "NSE": 2}

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (["--broker", "zerodha"], "no bundled master for broker 'zerodha': pass --file PATH"),
            (["--broker", "bad name!"], "invalid broker name 'bad name!'"),
            (["--broker", "zerodha", "--file", "missing.csv"], "Cannot read master file"),
            (["--file", "x.csv"], "--broker"),
        ],
    )
    def test_bad_arguments(self, tmp_path: Path, args: list[str], fragment: str) -> None:
        r = run_cli("instruments", "load", *args, cwd=tmp_path, env=cli_env(tmp_path))
        assert_one_line_error(r, fragment)

    def test_a_file_that_is_not_a_master(self, tmp_path: Path) -> None:
        env = cli_env(tmp_path)
        (tmp_path / "notes.csv").write_text("hello,world\n1,2\n")
        r = run_cli(
            "instruments",
            "load",
            "--broker",
            "zerodha",
            "--file",
            "notes.csv",
            cwd=tmp_path,
            env=env,
        )
        assert_one_line_error(r, "Master file is missing columns: symbol")
        (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00bad")
        r = run_cli(
            "instruments",
            "load",
            "--broker",
            "zerodha",
            "--file",
            "binary.csv",
            cwd=tmp_path,
            env=env,
        )
        assert_one_line_error(r, "is not UTF-8 text")


def test_load_on_postgresql(tmp_path: Path) -> None:
    url = asyncio.run(provision_postgres(f"openalgo_cli_instruments_{worker_suffix()}"))
    env = cli_env(tmp_path, {"OPENALGO_DATABASE_URL": url})
    good = master_csv(tmp_path / "good.csv")
    args = ("instruments", "load", "--broker", "zerodha", "--file", str(good))
    refused = run_cli(*args, cwd=tmp_path, env=env)
    assert_one_line_error(refused, "run `openalgo db upgrade` first")
    assert run_cli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    r = run_cli(*args, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert summary(r.stdout)[:3] == (5, "zerodha", {"BSE": 1, "NFO": 2, "NSE": 2})

    async def count() -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT count(*) FROM instruments WHERE broker = 'zerodha'")
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    assert asyncio.run(count()) == 5


def test_serve_loads_the_simulator_master_on_first_start(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with serving(cwd=tmp_path, env=env, port=free_port()) as (proc, base):
        assert httpx.get(f"{base}/ready").json() == {"status": "ready", "database": "ok"}
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    total, broker, per, _ = summary(
        next(line for line in out.splitlines() if "simulator: loaded" in line).split(": ", 1)[1]
    )
    assert broker == "simulator" and total > 5000
    assert rows_in_sqlite(tmp_path, "simulator") == per
    # The second start the same day finds today's master and leaves it be.
    with serving(cwd=tmp_path, env=env, port=free_port()) as (proc, _base):
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "simulator: loaded" not in out
    assert rows_in_sqlite(tmp_path, "simulator") == per
