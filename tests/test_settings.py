from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from openalgo.errors import ConfigError
from openalgo.settings import Settings, load_settings, normalize_database_url, resolve_secrets


def bare(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)


class TestDefaults:
    def test_defaults_need_no_configuration(self, tmp_path: Path) -> None:
        s = bare(tmp_path)
        assert (s.host, s.port, s.ws_port) == ("127.0.0.1", 5000, 8765)
        assert s.log_format == "text"
        assert s.env == "development"
        assert (
            s.resolved_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'openalgo.db').resolve()}"
        )
        assert s.is_sqlite

    def test_reads_openalgo_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OPENALGO_PORT", "6001")
        monkeypatch.setenv("OPENALGO_LOG_LEVEL", "debug")
        monkeypatch.setenv("OPENALGO_LOG_FORMAT", "JSON")
        monkeypatch.setenv("OPENALGO_DATABASE_URL", "postgres://u:p@db:5432/oa")
        s = bare(tmp_path)
        assert s.port == 6001
        assert s.log_level == "DEBUG"
        assert s.log_format == "json"
        assert s.resolved_database_url == "postgresql+asyncpg://u:p@db:5432/oa"
        assert not s.is_sqlite

    def test_reads_dotenv_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        env_file = tmp_path / ".env"
        env_file.write_text("OPENALGO_WS_PORT=9999\nOPENALGO_HOST=0.0.0.0\n")
        monkeypatch.delenv("OPENALGO_WS_PORT", raising=False)
        s = Settings(_env_file=env_file, data_dir=tmp_path)
        assert (s.ws_port, s.host) == (9999, "0.0.0.0")

    def test_invalid_port_is_a_config_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigError, match="OPENALGO_PORT"):
            load_settings(port=70000, data_dir=tmp_path)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("postgres://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
    ],
)
def test_database_url_normalisation(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize("bad", ["mysql://h/db", "not a url", "oracle://x"])
def test_unsupported_database_urls_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="OPENALGO_DATABASE_URL"):
        normalize_database_url(bad)


class TestSecrets:
    def test_generated_once_with_mode_0600_and_reused(self, tmp_path: Path) -> None:
        first = resolve_secrets(bare(tmp_path))
        path = tmp_path / "secrets.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert first.secret_key is not None and first.pepper is not None
        assert len(first.secret_key_value()) == 64
        assert first.secret_key_value() != first.pepper_value()
        second = resolve_secrets(bare(tmp_path))
        assert second.secret_key_value() == first.secret_key_value()
        assert second.pepper_value() == first.pepper_value()

    def test_given_secrets_win_over_the_file(self, tmp_path: Path) -> None:
        s = resolve_secrets(bare(tmp_path, secret_key="k" * 40, pepper="q" * 40))
        assert s.secret_key_value() == "k" * 40
        assert not (tmp_path / "secrets.json").exists()

    @pytest.mark.parametrize("value", [None, "change-me", "short"])
    def test_production_refuses_missing_or_placeholder(
        self, tmp_path: Path, value: str | None
    ) -> None:
        s = bare(tmp_path, env="production", secret_key=value, pepper="q" * 40)
        with pytest.raises(ConfigError, match="OPENALGO_SECRET_KEY missing or a placeholder"):
            resolve_secrets(s)
        assert not (tmp_path / "secrets.json").exists()

    def test_production_accepts_real_secrets(self, tmp_path: Path) -> None:
        s = resolve_secrets(bare(tmp_path, env="production", secret_key="k" * 40, pepper="q" * 40))
        assert s.pepper_value() == "q" * 40

    def test_damaged_secrets_file_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "secrets.json").write_text(json.dumps({"secret_key": "x"}))
        with pytest.raises(ConfigError, match="damaged"):
            resolve_secrets(bare(tmp_path))

    def test_unwritable_data_dir(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        with pytest.raises(ConfigError, match="not writable"):
            resolve_secrets(bare(blocker / "data"))
