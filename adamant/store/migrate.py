"""Bringing a database's schema up to date (alembic upgrade head); every process may call it at start.

    python -m adamant.store.migrate upgrade --url sqlite:///var/adamant.db
    python -m adamant.store.migrate revision -m "add x" --url sqlite:///var/scratch.db   # autogenerate

Concurrent callers are safe: env.py runs the whole upgrade in one transaction under a lock
(a PostgreSQL advisory lock, SQLite's write lock), so the second caller waits, then finds the
schema at head and does nothing.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, exc
from sqlalchemy.engine import URL

from adamant.store.db import SQLITE_BEGIN_OPTION, make_engine, translated_errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_IN_PROCESS = threading.Lock()  # alembic's context and op are process-global proxies


def alembic_config(url: str | URL | None = None) -> Config:
    """An alembic Config pointing at the migrations shipped inside this package (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", str(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with translated_errors(), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    """Whether the schema is at head (what /readyz asks)."""
    return current_revision(engine) == head_revision()


def upgrade(target: str | URL | Engine, revision: str = "head", *, attempts: int = 5) -> None:
    """Apply every migration up to `revision`; idempotent, and safe when processes race."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with _IN_PROCESS:
            _upgrade(engine, revision, attempts)
    finally:
        if engine is not target:
            engine.dispose()


def _upgrade(engine: Engine, revision: str, attempts: int) -> None:
    for attempt in range(1, attempts + 1):
        try:
            with translated_errors(), engine.connect() as connection:
                config = alembic_config()
                config.attributes["connection"] = connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                command.upgrade(config, revision)
            return
        except Exception as error:
            # SQLite past its busy timeout while another process migrates: try again.
            locked = isinstance(error.__cause__, exc.OperationalError) and "locked" in str(error.__cause__)
            if not locked or attempt == attempts:
                raise
            time.sleep(0.2 * attempt)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adamant.store.migrate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="apply migrations up to head")
    up.add_argument("--url", help="default: the settings' DATABASE_URL (or the embedded SQLite file)")
    up.add_argument("--revision", default="head")
    rev = sub.add_parser("revision", help="autogenerate a migration from the models' difference with --url")
    rev.add_argument("--url", required=True, help="a database already at head")
    rev.add_argument("-m", "--message", required=True)
    cur = sub.add_parser("current", help="print the database's revision")
    cur.add_argument("--url", help="default: the settings' DATABASE_URL")
    args = parser.parse_args(argv)
    if getattr(args, "url", None) is None:
        from adamant.settings import get_settings

        args.url = get_settings().database_url

    if args.command == "upgrade":
        upgrade(args.url, args.revision)
    elif args.command == "revision":
        command.revision(alembic_config(args.url), message=args.message, autogenerate=True)
    else:
        engine = make_engine(args.url)
        print(current_revision(engine) or "(none)", "head" if is_current(engine) else f"(head is {head_revision()})")
        engine.dispose()


if __name__ == "__main__":
    main()
