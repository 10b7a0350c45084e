"""A wheel built from the project carries its templates and migrations and serves its pages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (found,) = out.glob("openalgo-*.whl")
    return found


def test_wheel_contains_templates_migrations_and_entry_point(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "openalgo/templates/home.html" in names
    assert "openalgo/migrations/env.py" in names
    assert any(
        n.startswith("openalgo/migrations/versions/") and n.endswith("_users.py") for n in names
    )
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "openalgo = openalgo.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_serves_its_pages(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import asyncio, httpx, openalgo.resources as r\n"
        "from openalgo.app import create_app\n"
        "from openalgo.settings import Settings\n"
        f"assert str(r.templates_dir()).startswith({str(site)!r}), r.templates_dir()\n"
        f"assert str(r.migrations_dir()).startswith({str(site)!r}), r.migrations_dir()\n"
        f"s = Settings(_env_file=None, data_dir={str(tmp_path)!r}, secret_key='k'*40, pepper='p'*40)\n"
        "app = create_app(s)\n"
        "async def main():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        t = httpx.ASGITransport(app=app)\n"
        "        async with httpx.AsyncClient(transport=t, base_url='http://x') as c:\n"
        "            r = await c.get('/')\n"
        "            assert r.status_code == 200 and 'gateway is running' in r.text\n"
        "asyncio.run(main())\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
