"""The Alembic migrations and the table definitions describe the same schema: a fresh SQLite database is
created from the tables and stamped (fast cold start), everything else runs the migrations."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from tocsin.store import Store
from tocsin.store.database import HEAD_REVISION, current_revision, make_engine


def _schema(url: str) -> dict:
    insp = inspect(create_engine(url))
    return {
        t: (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)),
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
            sorted(insp.get_pk_constraint(t)["constrained_columns"]),
        )
        for t in insp.get_table_names()
    }


def _run_migrations(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from tocsin.store.database import ALEMBIC_DIR

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    with make_engine(url).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def test_fresh_database_matches_the_migrated_schema(tmp_path) -> None:
    fast, migrated = f"sqlite:///{tmp_path / 'fast.db'}", f"sqlite:///{tmp_path / 'migrated.db'}"
    Store.open(fast).close()
    _run_migrations(migrated)
    assert _schema(fast) == _schema(migrated)
    assert current_revision(make_engine(fast)) == current_revision(make_engine(migrated)) == HEAD_REVISION


def test_alembic_head_is_the_revision_the_code_expects() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from tocsin.store.database import ALEMBIC_DIR

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
