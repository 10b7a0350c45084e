"""Schema objects that live outside the ORM metadata, and the Alembic filter that ignores them.

The instrument search index is backend-specific (an FTS5 trigram table and its shadow tables on
SQLite, a pg_trgm GIN index on PostgreSQL). Migrations create it; autogenerate and ``alembic
check`` must not report it as drift.
"""

from __future__ import annotations

from collections.abc import Mapping

UNMANAGED_PREFIXES = ("instruments_search",)


def include_name(
    name: str | None,
    type_: str,
    parent_names: Mapping[str, str | None],  # noqa: ARG001
) -> bool:
    if name is None or type_ not in ("table", "index"):
        return True
    return not name.startswith(UNMANAGED_PREFIXES)
