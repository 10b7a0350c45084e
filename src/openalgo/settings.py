"""One settings object for the whole service.

Every knob is an ``OPENALGO_*`` environment variable (or a line in ``.env``). A new user configures
nothing: the database defaults to a SQLite file in the data dir and, in development, the two secrets
are generated on first start into ``<data_dir>/secrets.json`` (mode 0600). In production a missing or
placeholder secret is a configuration error, because a generated secret that nobody backed up makes
every stored hash and ciphertext unreadable after the data dir is lost.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openalgo.errors import ConfigError

Environment = Literal["development", "production", "testing"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["text", "json"]

SECRETS_FILE_NAME = "secrets.json"
MIN_SECRET_LENGTH = 32
# Values that must never be accepted as a real secret: the examples we ship, and the obvious ones.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "secret",
        "replace-with-a-random-64-hex-string",
    }
)


class Settings(BaseSettings):
    """Runtime configuration; see `.env.example` for the documented list."""

    model_config = SettingsConfigDict(
        env_prefix="OPENALGO_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Environment = "development"
    data_dir: Path = Path("./data")
    database_url: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    ws_port: int = Field(default=8765, ge=1, le=65535)

    log_level: LogLevel = "INFO"
    log_format: LogFormat = "text"
    access_log: bool = False

    secret_key: SecretStr | None = None
    pepper: SecretStr | None = None

    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    db_pool_timeout: float = Field(default=30.0, gt=0)
    db_connect_timeout: float = Field(default=5.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)

    # Simulated market (issue 3).
    market_always_open: bool = False
    sim_ticks_per_second: float = Field(default=2.0, gt=0, le=100)
    sim_seed: int = 0
    # IST time after which a running server rebuilds the simulator's master for the new day
    # (OpenAlgo's MASTER_CONTRACT_CUTOFF_TIME).
    master_refresh_time: time = time(8, 0)

    # REST API (issue 6): request bodies above this many bytes get a 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # How long an Idempotency-Key is remembered, and how long a request holding one may run
    # before a repeat is told it never completed.
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    idempotency_lease_seconds: int = Field(default=120, ge=1)
    # Order-log intents with no outcome after this long are marked "unknown" (a server stopped).
    order_intent_timeout_seconds: int = Field(default=300, ge=1)
    # Monitoring: buffered request/latency records are written every N seconds and kept N days.
    monitoring_flush_seconds: float = Field(default=2.0, gt=0)
    monitoring_retention_days: int = Field(default=30, ge=1)
    metrics_enabled: bool = True
    # Periodic upkeep (monitoring writes, order-journal cleanup). Off only in tests that hold the
    # database's write lock, or on workers where another process does it.
    background_tasks: bool = True

    # Paper-trading ledger (analyzer mode and the simulator broker). Defaults for every user;
    # a user can override each in the sandbox_config table. See brokers/sandbox/config.py.
    sandbox_starting_capital: Decimal = Field(default=Decimal("10000000"), ge=1000)
    sandbox_equity_mis_leverage: Decimal = Field(default=Decimal("5"), ge=1, le=50)
    sandbox_equity_cnc_leverage: Decimal = Field(default=Decimal("1"), ge=1, le=50)
    sandbox_futures_leverage: Decimal = Field(default=Decimal("10"), ge=1, le=50)
    sandbox_option_buy_leverage: Decimal = Field(default=Decimal("1"), ge=1, le=50)
    sandbox_option_sell_leverage: Decimal = Field(default=Decimal("1"), ge=1, le=50)
    sandbox_nse_bse_square_off_time: str = "15:15"
    sandbox_cds_bcd_square_off_time: str = "16:45"
    sandbox_mcx_square_off_time: str = "23:30"
    sandbox_ncdex_square_off_time: str = "17:00"
    sandbox_trading_start_time: str = "09:00"
    sandbox_session_start_time: str = "03:00"
    sandbox_reset_day: str = "never"
    sandbox_reset_time: str = "00:00"
    sandbox_expiry_settlement_timing: Literal["expiry_day_close", "next_day"] = "expiry_day_close"
    sandbox_option_expiry_settlement: Literal["ltp", "zero"] = "ltp"
    sandbox_gtt_oco_margin_mode: Literal["max", "sum"] = "max"
    sandbox_order_check_interval: float = Field(default=5.0, ge=0.05, le=30)
    sandbox_maintenance_interval: float = Field(default=30.0, ge=0.05, le=600)
    sandbox_quote_max_age: float = Field(default=5.0, gt=0)
    sandbox_batch_size: int = Field(default=256, ge=1, le=10_000)

    @field_validator(
        "sandbox_nse_bse_square_off_time",
        "sandbox_cds_bcd_square_off_time",
        "sandbox_mcx_square_off_time",
        "sandbox_ncdex_square_off_time",
        "sandbox_trading_start_time",
        "sandbox_session_start_time",
        "sandbox_reset_time",
    )
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, sep, minutes = value.strip().partition(":")
        if not (sep and hours.isdigit() and minutes.isdigit()):
            raise ValueError("use HH:MM (IST)")
        if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
            raise ValueError("use HH:MM (IST)")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @field_validator("sandbox_reset_day")
    @classmethod
    def _reset_day(cls, value: str) -> str:
        day = value.strip().lower()
        allowed = ("never", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
        if day not in (*allowed, "sunday"):
            raise ValueError("use never or a weekday name")
        return day

    # Streaming (issue 7). The tick bus is in-process (inproc://) unless zmq_url names a tcp://
    # endpoint for feed processes to connect to; the hub binds it.
    zmq_url: str | None = None
    zmq_hwm: int = Field(default=100_000, ge=1)
    ws_auth_timeout: float = Field(default=15.0, gt=0)
    ws_stall_timeout: float = Field(default=10.0, gt=0)
    ws_max_subscriptions: int = Field(default=3000, ge=1)
    ws_max_message_bytes: int = Field(default=65_536, ge=1024)
    ws_ping_interval: float = Field(default=20.0, gt=0)
    ws_ping_timeout: float = Field(default=20.0, gt=0)
    # --- security: sessions, API keys, perimeter, rate limits, bans (issue 5) ---
    # Daily expiry of admin and broker sessions, HH:MM in IST (OpenAlgo's SESSION_EXPIRY_TIME).
    session_expiry_time: str = "03:00"
    max_sessions_per_user: int = Field(default=5, ge=1, le=100)
    apikey_cache_ttl: float = Field(default=30.0, ge=0)
    # How often each process looks for revocations made elsewhere (CLI, other workers).
    auth_sync_interval: float = Field(default=1.0, gt=0)
    last_used_flush_interval: float = Field(default=30.0, gt=0)
    rate_limit_enabled: bool = True
    login_rate_limit: str = "5 per minute;25 per hour"
    api_rate_limit: str = "50 per second"
    order_rate_limit: str = "10 per second"
    smart_order_rate_limit: str = "10 per second"
    webhook_rate_limit: str = "100 per minute"
    # /optiongreeks alone (OpenAlgo's GREEKS_RATE_LIMIT): Black-Scholes solves are CPU-bound.
    greeks_rate_limit: str = "30 per minute"
    redis_url: str | None = None
    # Comma-separated addresses or CIDR networks whose X-Forwarded-For / -Proto are believed.
    trusted_proxies: str = ""
    # Comma-separated origins allowed to call /api/ from a browser; empty means CORS is off.
    cors_allowed_origins: str = ""
    ban_enabled: bool = True
    ban_apikey_threshold: int = Field(default=20, ge=1)
    ban_login_threshold: int = Field(default=10, ge=1)
    ban_window_seconds: int = Field(default=600, ge=1)
    ban_duration_seconds: int = Field(default=3600, ge=1)
    # Addresses that are never banned (a reverse proxy on the same host must not lock everyone out).
    ban_exempt: str = "127.0.0.1,::1"
    hsts_max_age: int = Field(default=31_536_000, ge=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("session_expiry_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        from openalgo.security.expiry import parse_hhmm

        parse_hhmm(value)
        return value.strip()

    @field_validator(
        "login_rate_limit",
        "api_rate_limit",
        "order_rate_limit",
        "smart_order_rate_limit",
        "webhook_rate_limit",
        "greeks_rate_limit",
    )
    @classmethod
    def _limit_string(cls, value: str) -> str:
        from openalgo.security.ratelimit import parse_limits

        parse_limits(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        from openalgo.security.ratelimit import async_redis_uri

        async_redis_uri(value)
        return value

    @field_validator("trusted_proxies", "ban_exempt")
    @classmethod
    def _networks(cls, value: str) -> str:
        from openalgo.security.clientaddr import parse_networks

        parse_networks(value)
        return value

    @field_validator("log_format", "env", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: the configured one, or the SQLite file in the data dir."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'openalgo.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def secrets_file(self) -> Path:
        return self.data_dir / SECRETS_FILE_NAME

    def secret_key_value(self) -> str:
        if self.secret_key is None:
            raise ConfigError("OPENALGO_SECRET_KEY is not set")
        return self.secret_key.get_secret_value()

    def pepper_value(self) -> str:
        if self.pepper is None:
            raise ConfigError("OPENALGO_PEPPER is not set")
        return self.pepper.get_secret_value()


def normalize_database_url(url: str) -> str:
    """Accept the URLs people write (``sqlite:///x.db``, ``postgres://``) and pick the async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"OPENALGO_DATABASE_URL is not a URL: {url!r}")
    scheme = scheme.lower()
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    raise ConfigError(
        f"OPENALGO_DATABASE_URL uses an unsupported database {scheme!r}: use sqlite or postgresql"
    )


def _is_placeholder(value: SecretStr | None) -> bool:
    if value is None:
        return True
    raw = value.get_secret_value().strip()
    return raw.lower() in PLACEHOLDER_SECRETS or len(raw) < MIN_SECRET_LENGTH


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data dir and prove it is writable; a clear ConfigError otherwise."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"data dir {str(path)!r} is not writable: {exc.strerror or exc}") from exc
    return path


def resolve_secrets(settings: Settings) -> Settings:
    """Return settings whose secret key and pepper are set.

    Development and testing generate missing secrets once into a 0600 file in the data dir and reuse
    them on every later start. Production refuses to start without explicit, non-placeholder values.
    """
    missing = [
        name
        for name, value in (
            ("OPENALGO_SECRET_KEY", settings.secret_key),
            ("OPENALGO_PEPPER", settings.pepper),
        )
        if _is_placeholder(value)
    ]
    if not missing:
        return settings
    if settings.env == "production":
        raise ConfigError(
            f"{' and '.join(missing)} missing or a placeholder: set each to a random value of at "
            f"least {MIN_SECRET_LENGTH} characters (python3 -c 'import secrets; "
            "print(secrets.token_hex(32))') before starting in production"
        )
    stored = _load_or_create_secrets_file(settings)
    updates: dict[str, SecretStr] = {}
    if _is_placeholder(settings.secret_key):
        updates["secret_key"] = SecretStr(stored["secret_key"])
    if _is_placeholder(settings.pepper):
        updates["pepper"] = SecretStr(stored["pepper"])
    return settings.model_copy(update=updates)


def _load_or_create_secrets_file(settings: Settings) -> dict[str, str]:
    ensure_data_dir(settings)
    path = settings.secrets_file
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"secrets file {str(path)!r} is unreadable: {exc}") from exc
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) and len(data[k]) >= MIN_SECRET_LENGTH
            for k in ("secret_key", "pepper")
        ):
            raise ConfigError(f"secrets file {str(path)!r} is damaged: restore it from a backup")
        return {"secret_key": data["secret_key"], "pepper": data["pepper"]}
    data = {"secret_key": secrets.token_hex(32), "pepper": secrets.token_hex(32)}
    # O_EXCL so two processes starting together never overwrite each other's secrets.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load_or_create_secrets_file(settings)
    except OSError as exc:
        raise ConfigError(f"cannot write secrets file {str(path)!r}: {exc.strerror}") from exc
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return data


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and `.env`, with secrets resolved. The CLI's entry point."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(_first_settings_error(exc)) from exc
    return resolve_secrets(settings)


def _first_settings_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        for err in errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            return f"invalid setting OPENALGO_{loc.upper()}: {err.get('msg')}"
    return f"invalid settings: {exc}"
