"""Schema migrations: Alembic scripts shipped in the package, applied on open or on demand.

The chain lives in ``veille/store/migrations/versions/``; a feature that adds tables adds one
script whose ``down_revision`` is the current head, so there is always exactly one head.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from veille.store.engine import StoreError
from veille.store.schema import metadata

SCRIPT_LOCATION: Final = "veille.store:migrations"

SEARCH_OBJECTS: Final = frozenset({"posts_fts", "ix_posts_search"})
"""Engine-specific full-text objects the migrations create outside the shared metadata."""


def target_metadata() -> sa.MetaData:
    """The shared metadata with the tables of every module of ``veille.store`` registered."""
    import veille.store as package

    for module in pkgutil.iter_modules(package.__path__, "veille.store."):
        if not module.ispkg:
            importlib.import_module(module.name)
    return metadata


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave the full-text index (and FTS5's shadow tables) out of schema comparisons."""
    if name is None:
        return True
    return not (name in SEARCH_OBJECTS or name.startswith("posts_fts_"))


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The revision the code expects (the single head of the chain)."""
    heads = ScriptDirectory.from_config(_config()).get_heads()
    if len(heads) != 1:
        raise StoreError(f"migration chain has {len(heads)} heads {heads}; it must have one")
    return heads[0]


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the code's head), in one transaction."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def ensure_current(engine: sa.Engine) -> None:
    """Migrate when the database is behind; refuse a database written by a newer veille."""
    expected = head()
    found = current(engine)
    if found == expected:
        return
    if found is not None:
        script = ScriptDirectory.from_config(_config())
        try:
            known = script.get_revision(found) is not None
        except CommandError:
            known = False
        if not known:
            raise StoreError(
                f"database schema is at revision {found}, unknown to this veille (newer version?)"
            )
    upgrade(engine)
