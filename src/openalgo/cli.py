"""The ``openalgo`` command.

Every expected failure (bad flag, unreachable database, unwritable data dir, port in use, weak
password...) is one line on stderr and exit code 2; tracebacks are reserved for bugs.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NoReturn, TypeVar

from openalgo import __version__
from openalgo.errors import ConfigError, OpenAlgoError
from openalgo.settings import Settings, ensure_data_dir, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report on one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on a single line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="openalgo", description="Self-hosted trading gateway for Indian markets.")
    parser.add_argument("--version", action="version", version=f"openalgo {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the gateway (REST API, pages, streaming)")
    serve.add_argument("--host", help="address to listen on (default: OPENALGO_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default: OPENALGO_PORT or 5000)")
    serve.add_argument(
        "--ws-port", type=int, help="WebSocket port (default: OPENALGO_WS_PORT or 8765)"
    )
    serve.add_argument(
        "--reload", action="store_true", help="restart on code changes (development)"
    )
    serve.set_defaults(handler=cmd_serve)

    db = commands.add_parser("db", help="database schema migrations")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(
        handler=cmd_db_upgrade
    )
    db_commands.add_parser("current", help="show the schema revision").set_defaults(
        handler=cmd_db_current
    )
    db_commands.add_parser(
        "check", help="fail unless the schema is at head and matches the models"
    ).set_defaults(handler=cmd_db_check)

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    create = user_commands.add_parser("create", help="create a user (the first one is the admin)")
    create.add_argument("--username", required=True)
    create.add_argument("--password", required=True)
    create.set_defaults(handler=cmd_user_create)

    instruments = commands.add_parser("instruments", help="instrument master contracts")
    instrument_commands = instruments.add_subparsers(
        dest="instruments_command", metavar="ACTION", required=True
    )
    load = instrument_commands.add_parser(
        "load", help="load a broker's master (the simulator's generated one by default)"
    )
    load.add_argument("--broker", required=True, help="broker the master belongs to")
    load.add_argument("--file", help="master CSV (see docs/instruments.md)")
    load.set_defaults(handler=cmd_instruments_load)
    from openalgo.cli_security import add_security_commands

    add_security_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except (CliError, ConfigError, OpenAlgoError) as exc:
        message = exc.message if isinstance(exc, OpenAlgoError) else str(exc)
        print(f"openalgo: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


# --- helpers ----------------------------------------------------------------------------------


def _settings(**overrides: object) -> Settings:
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    from openalgo.logging import setup_logging

    setup_logging(settings.log_level, settings.log_format)
    return settings


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    async def runner() -> T:
        return await factory()

    return asyncio.run(runner())


def _check_port_free(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on {host!r}: {exc.strerror}") from exc
    family, socktype, proto, _, address = infos[0]
    with socket.socket(family, socktype, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(f"port {port} on {host} is already in use") from exc
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


async def _prepare_database(settings: Settings, *, migrate_sqlite: bool) -> str:
    """Reach the database and bring or check its schema; returns the schema revision."""
    from openalgo.db import migrations

    async with _engine(settings) as engine:
        state = await migrations.schema_state(engine)
        if state.up_to_date:
            return state.head
        if settings.is_sqlite and migrate_sqlite:
            await migrations.upgrade(engine)
            return state.head
        raise CliError(
            f"database schema is at {state.current or 'nothing'}, this version needs {state.head}: "
            "run `openalgo db upgrade` first"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- commands ---------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(host=args.host, port=args.port, ws_port=args.ws_port)
    ensure_data_dir(settings)
    _check_port_free(settings.host, settings.port)
    if settings.ws_port == settings.port:
        raise CliError(f"the WebSocket port must differ from the HTTP port ({settings.port})")
    _check_port_free(settings.host, settings.ws_port)
    _run(lambda: _prepare_database(settings, migrate_sqlite=True))
    _run(lambda: _ensure_simulator_master(settings))

    base = f"http://{_display_host(settings.host)}:{settings.port}"
    print(f"openalgo {__version__} serving on {base}", flush=True)
    print(f"  API docs:  {base}/docs", flush=True)
    print(f"  REST API:  {base}/api/v1", flush=True)
    ws_host = _display_host(settings.host)
    print(
        f"  WebSocket: ws://{ws_host}:{settings.ws_port} and ws://{ws_host}:{settings.port}/ws",
        flush=True,
    )

    import uvicorn

    from openalgo.streaming.server import hard_message_limit

    if args.reload:
        # The reloader re-imports the app in a child process, which reads its settings from the
        # environment; pass the flags on that way.
        os.environ["OPENALGO_HOST"] = settings.host
        os.environ["OPENALGO_PORT"] = str(settings.port)
        os.environ["OPENALGO_WS_PORT"] = str(settings.ws_port)
        uvicorn.run(
            "openalgo.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            reload=True,
            log_config=None,
            proxy_headers=False,  # client addresses come from OPENALGO_TRUSTED_PROXIES only
            access_log=settings.access_log,
            ws_per_message_deflate=False,
            ws_max_size=hard_message_limit(settings.ws_max_message_bytes),
        )
        return EXIT_OK

    from openalgo.app import create_app

    config = uvicorn.Config(
        create_app(settings, ws_listener=True),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.access_log,
        lifespan="on",
        # Market data is serialized once per tick and shared; per-session compression would undo it.
        ws_per_message_deflate=False,
        ws_max_size=hard_message_limit(settings.ws_max_message_bytes),
        proxy_headers=False,  # client addresses come from OPENALGO_TRUSTED_PROXIES only
    )
    server = uvicorn.Server(config)
    server.run()  # with uvicorn's loop factory: uvloop when installed (asyncio.run would not)
    return EXIT_OK if server.started else EXIT_USAGE


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.is_sqlite:
        ensure_data_dir(settings)
    from openalgo.db import migrations

    async def upgrade() -> str:
        async with _engine(settings) as engine:
            await migrations.upgrade(engine)
            return (await migrations.schema_state(engine)).head

    head = _run(upgrade)
    print(f"database is at revision {head} (head)")
    return EXIT_OK


@asynccontextmanager
async def _engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine that has proved it can connect; disposed on exit."""
    from openalgo.db.engine import create_engine, safe_url

    engine = create_engine(settings)
    try:
        try:
            async with asyncio.timeout(settings.db_connect_timeout + 1):
                async with engine.connect():
                    pass
        except Exception as exc:
            url = safe_url(settings.resolved_database_url)
            raise CliError(f"cannot reach database {url}: {_reason(exc)}") from exc
        yield engine
    finally:
        await engine.dispose()


def cmd_db_current(_args: argparse.Namespace) -> int:
    settings = _settings()
    from openalgo.db import migrations

    async def current() -> migrations.SchemaState:
        async with _engine(settings) as engine:
            return await migrations.schema_state(engine)

    state = _run(current)
    status = "up to date" if state.up_to_date else "needs `openalgo db upgrade`"
    print(f"current: {state.current or '(empty database)'}")
    print(f"head:    {state.head} ({status})")
    return EXIT_OK


def cmd_db_check(_args: argparse.Namespace) -> int:
    settings = _settings()
    from alembic.util.exc import AutogenerateDiffsDetected, CommandError

    from openalgo.db import migrations

    async def check() -> None:
        async with _engine(settings) as engine:
            await migrations.check(engine)

    try:
        _run(check)
    except AutogenerateDiffsDetected as exc:
        print(f"openalgo: schema drift: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except CommandError as exc:
        print(f"openalgo: {exc}: run `openalgo db upgrade`", file=sys.stderr)
        return EXIT_FAILED
    print("schema is at head and matches the models")
    return EXIT_OK


def cmd_user_create(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.is_sqlite:
        ensure_data_dir(settings)
    from openalgo.db.session import create_sessionmaker, transaction

    # Hashing happens before any database work, so a weak password fails fast and alone.
    from openalgo.security.passwords import require_strong_password
    from openalgo.services.users import create_user, validate_username

    validate_username(args.username)
    require_strong_password(args.password)

    async def create() -> bool:
        await _prepare_database(settings, migrate_sqlite=True)
        async with (
            _engine(settings) as engine,
            transaction(create_sessionmaker(engine)) as session,
        ):
            user = await create_user(
                session,
                username=args.username,
                password=args.password,
                pepper=settings.pepper_value(),
            )
            return user.is_admin

    is_admin = _run(create)
    print(f"created user {args.username!r}{' (admin)' if is_admin else ''}")
    return EXIT_OK


# --- instruments ------------------------------------------------------------------------------


async def _ensure_simulator_master(settings: Settings) -> None:
    """First start (and each new trading day): generate and load the simulator's master."""
    from openalgo.db.session import create_sessionmaker
    from openalgo.domain.calendar import MarketCalendar
    from openalgo.services.instrument_loading import ensure_simulator_master, today_ist

    async with _engine(settings) as engine:
        summary = await ensure_simulator_master(
            create_sessionmaker(engine),
            MarketCalendar.bundled(always_open=settings.market_always_open),
            today_ist(),
            seed=settings.sim_seed,
        )
    if summary is not None:
        print(f"  simulator: {summary.line()}", flush=True)


class _ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, total: int, label: str) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.label = label
        self.tty = sys.stderr.isatty()

    def __call__(self, rows: int) -> None:
        self.done += rows
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        end = "" if self.done < self.total else "\n"
        if self.tty:
            print(f"\r{self.label} [{bar}] {self.done}/{self.total}", end=end, file=sys.stderr)
        elif self.done >= self.total:
            print(f"{self.label} [{bar}] {self.done}/{self.total}", file=sys.stderr)
        sys.stderr.flush()


def cmd_instruments_load(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.is_sqlite:
        ensure_data_dir(settings)
    from pathlib import Path

    from openalgo.db.session import create_sessionmaker
    from openalgo.domain.calendar import MarketCalendar
    from openalgo.services.instrument_loading import (
        SIMULATOR,
        load_master,
        read_master_file,
        simulator_master,
        today_ist,
    )

    broker = args.broker.strip().lower()
    if not broker or not broker.replace("_", "").isalnum() or len(broker) > 32:
        raise CliError(f"invalid broker name {args.broker!r}: letters, digits and _ only")
    today = today_ist()
    if args.file:
        path = Path(args.file)
        instruments, expired = read_master_file(path, today=today)
        source = str(path.resolve())
    elif broker == SIMULATOR:
        instruments, expired = (
            simulator_master(
                MarketCalendar.bundled(always_open=settings.market_always_open),
                today,
                seed=settings.sim_seed,
            ),
            0,
        )
        source = f"generated for {today.isoformat()}"
    else:
        raise CliError(f"no bundled master for broker {broker!r}: pass --file PATH")
    progress = _ProgressBar(len(instruments), f"loading {broker}")

    async def load() -> str:
        await _prepare_database(settings, migrate_sqlite=True)
        async with _engine(settings) as engine:
            summary = await load_master(
                create_sessionmaker(engine),
                broker,
                instruments,
                as_of=today,
                source=source,
                expired=expired,
                progress=progress,
                whole=not args.file,
            )
        return summary.line()

    print(_run(load))
    return EXIT_OK
