"""``openalgo apikey ...`` and ``openalgo bans ...``.

``apikey create`` and ``apikey rotate`` print the new key and nothing else on stdout, so scripts can
capture it (``KEY=$(openalgo apikey create --username alice)``). A running server notices revocations
and lifted bans made here within ``OPENALGO_AUTH_SYNC_INTERVAL`` (it polls a change counter).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from openalgo.db.models.user import User


def add_security_commands(commands: Any) -> None:
    apikey = commands.add_parser("apikey", help="manage API keys")
    actions = apikey.add_subparsers(dest="apikey_command", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a key and print it (only the key)")
    create.add_argument("--username", required=True)
    create.add_argument("--name", default="", help="a label, e.g. 'tradingview'")
    create.set_defaults(handler=cmd_apikey_create)

    revoke = actions.add_parser("revoke", help="revoke a user's key (by prefix) or all of them")
    revoke.add_argument("--username", required=True)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--prefix", help="the first characters of the key, as `apikey list` shows")
    which.add_argument("--all", action="store_true", help="revoke every active key of the user")
    revoke.set_defaults(handler=cmd_apikey_revoke)

    rotate = actions.add_parser("rotate", help="replace a key with a new one and print it")
    rotate.add_argument("--username", required=True)
    rotate.add_argument("--prefix", help="which key (needed when the user has several)")
    rotate.set_defaults(handler=cmd_apikey_rotate)

    listing = actions.add_parser("list", help="list keys: prefix, label, last use, status")
    listing.add_argument("--username", help="only this user's keys")
    listing.set_defaults(handler=cmd_apikey_list)

    bans = commands.add_parser("bans", help="list and lift address bans")
    ban_actions = bans.add_subparsers(dest="bans_command", metavar="ACTION", required=True)
    ban_actions.add_parser("list", help="list active bans").set_defaults(handler=cmd_bans_list)
    lift = ban_actions.add_parser("lift", help="lift the ban of an address")
    target = lift.add_mutually_exclusive_group(required=True)
    target.add_argument("address", nargs="?", help="the banned address")
    target.add_argument("--all", action="store_true", help="lift every ban")
    lift.set_defaults(handler=cmd_bans_lift)


# --- plumbing ------------------------------------------------------------------------------------


def _in_transaction(work: Any) -> Any:
    """Run ``await work(session, settings, now)`` in one committed transaction."""
    from openalgo.cli import _engine, _prepare_database, _run, _settings
    from openalgo.db.session import create_sessionmaker, transaction
    from openalgo.settings import ensure_data_dir

    settings = _settings()
    if settings.is_sqlite:
        ensure_data_dir(settings)

    async def run() -> Any:
        await _prepare_database(settings, migrate_sqlite=True)
        async with (
            _engine(settings) as engine,
            transaction(create_sessionmaker(engine)) as session,
        ):
            return await work(session, settings, datetime.now(UTC))

    return _run(run)


async def _user(session: AsyncSession, username: str) -> User:
    from openalgo.cli import CliError
    from openalgo.db.repositories.users import UserRepository

    user = await UserRepository(session).get_by_username(username)
    if user is None:
        raise CliError(f"no user {username!r} (create one with `openalgo user create`)")
    return user


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


# --- apikey --------------------------------------------------------------------------------------


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from openalgo.services.apikeys import create_api_key

    async def work(session: AsyncSession, settings: Any, now: datetime) -> str:
        user = await _user(session, args.username)
        created = await create_api_key(
            session,
            user_id=user.id,
            pepper=settings.pepper_value(),
            now=now,
            name=args.name,
            address="cli",
        )
        return created.plaintext

    print(_in_transaction(work))
    return 0


async def _one_active_key(session: AsyncSession, user: User, prefix: str | None) -> int:
    from openalgo.cli import CliError
    from openalgo.db.repositories.api_keys import ApiKeyRepository

    repo = ApiKeyRepository(session)
    if prefix:
        found = await repo.active_by_prefix(user.id, prefix.lower())
    else:
        found = await repo.for_user(user.id, include_revoked=False)
    if not found:
        what = f"with prefix {prefix!r}" if prefix else ""
        raise CliError(f"user {user.username!r} has no active API key {what}".rstrip())
    if len(found) > 1:
        raise CliError(
            f"user {user.username!r} has {len(found)} active keys"
            f"{' with that prefix' if prefix else ''}: pass --prefix (see `openalgo apikey list`)"
        )
    return found[0].id


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    from openalgo.db.repositories.api_keys import ApiKeyRepository
    from openalgo.services.apikeys import revoke_api_key

    async def work(session: AsyncSession, _settings: Any, now: datetime) -> int:
        user = await _user(session, args.username)
        if args.all:
            ids = [
                k.id
                for k in await ApiKeyRepository(session).for_user(user.id, include_revoked=False)
            ]
        else:
            ids = [await _one_active_key(session, user, args.prefix)]
        for key_id in ids:
            await revoke_api_key(session, user_id=user.id, key_id=key_id, now=now, address="cli")
        return len(ids)

    count = _in_transaction(work)
    print(f"revoked {count} key{'s' if count != 1 else ''} of {args.username!r}")
    return 0


def cmd_apikey_rotate(args: argparse.Namespace) -> int:
    from openalgo.services.apikeys import rotate_api_key

    async def work(session: AsyncSession, settings: Any, now: datetime) -> str:
        user = await _user(session, args.username)
        key_id = await _one_active_key(session, user, args.prefix)
        created = await rotate_api_key(
            session,
            user_id=user.id,
            key_id=key_id,
            pepper=settings.pepper_value(),
            now=now,
            address="cli",
        )
        return created.plaintext

    print(_in_transaction(work))
    return 0


def cmd_apikey_list(args: argparse.Namespace) -> int:
    from openalgo.db.repositories.api_keys import ApiKeyRepository

    async def work(session: AsyncSession, _settings: Any, _now: datetime) -> list[list[str]]:
        if args.username:
            await _user(session, args.username)
        rows = []
        for key, username in await ApiKeyRepository(session).all_with_users():
            if args.username and username != args.username:
                continue
            rows.append(
                [
                    username,
                    key.prefix,
                    key.name or "-",
                    _when(key.created_at),
                    _when(key.last_used_at),
                    "active" if key.revoked_at is None else f"revoked {_when(key.revoked_at)}",
                ]
            )
        return rows

    rows = _in_transaction(work)
    if not rows:
        print("no API keys")
        return 0
    print(_table(["USER", "PREFIX", "LABEL", "CREATED", "LAST USED", "STATUS"], rows))
    return 0


# --- bans ----------------------------------------------------------------------------------------


def cmd_bans_list(_args: argparse.Namespace) -> int:
    from openalgo.db.repositories.security import IpBanRepository

    async def work(session: AsyncSession, _settings: Any, now: datetime) -> list[list[str]]:
        return [
            [
                ban.address,
                _when(ban.expires_at) if ban.expires_at else "until lifted",
                str(ban.ban_count),
                ban.reason,
            ]
            for ban in await IpBanRepository(session).active(now)
        ]

    rows = _in_transaction(work)
    if not rows:
        print("no active bans")
        return 0
    print(_table(["ADDRESS", "UNTIL", "COUNT", "REASON"], rows))
    return 0


def cmd_bans_lift(args: argparse.Namespace) -> int:
    from openalgo.cli import CliError
    from openalgo.db.repositories.security import IpBanRepository
    from openalgo.security.bans import lift_ban

    async def work(session: AsyncSession, _settings: Any, now: datetime) -> int:
        if args.all:
            addresses = [
                ban.address
                for ban in await IpBanRepository(session).get_all(IpBanRepository(session).select())
            ]
        else:
            addresses = [args.address]
        lifted = 0
        for address in addresses:
            lifted += await lift_ban(session, address, now=now)
        if not args.all and not lifted:
            raise CliError(f"{args.address} is not banned")
        return lifted

    count = _in_transaction(work)
    print(f"lifted {count} ban{'s' if count != 1 else ''}")
    return 0
