"""Alembic's entry point for the store's schema; run through adamant.store.migrate.

Migrations run in one transaction under a lock, so two processes that start at once apply
them once: PostgreSQL takes a transaction-scoped advisory lock, SQLite begins IMMEDIATE
(the connection from migrate.upgrade asks for it) and DDL is transactional there too.
"""

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from adamant.store.db import SQLITE_BEGIN_OPTION, make_engine
from adamant.store.models import Base

# Any constant both processes agree on: "adamant" in ASCII.
MIGRATION_LOCK_KEY = 0x6164616D616E74


def run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,  # SQLite cannot ALTER most things; batch mode copies the table
        transactional_ddl=True,  # true of SQLite as well once pysqlite no longer manages BEGIN
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def main() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection in config.attributes or set sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as fresh:
            run(fresh.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}))
    finally:
        engine.dispose()


main()
