"""Where the non-Python files live, in a wheel and in a source checkout.

A wheel carries ``templates/`` and ``migrations/`` inside the package (``openalgo/templates``); an
editable install or a plain checkout keeps them at the top of the repository. Both are looked up, the
packaged copy first.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = _PACKAGE_DIR.parent.parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _SOURCE_ROOT / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name}/ is missing from the installation (looked in {_PACKAGE_DIR})")


def templates_dir() -> Path:
    return _find("templates")


def migrations_dir() -> Path:
    return _find("migrations")
