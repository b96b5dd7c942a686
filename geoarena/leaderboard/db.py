"""Engines, sessions, migrations and this process's read cache of one leaderboard database.

SQLite gets two engines on the same file: reads begin a deferred transaction, writes begin
``BEGIN IMMEDIATE`` so that the single SQLite writer lock is taken before the first read of
a read-check-write sequence (a quota check, a job claim). PostgreSQL uses one engine and
row locks (``FOR UPDATE``, ``SKIP LOCKED``) instead.

Only ``init-db``/``upgrade`` migrate; everything else checks the schema revision and says
what to run (:meth:`Database.require_current_schema`), so a server never silently changes
the schema of a database that another, older server still uses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from geoarena.errors import InvalidInput, Problem
from geoarena.leaderboard.errors import SchemaMismatch
from geoarena.leaderboard.settings import normalise_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")


def _sqlite_engine(url: str, begin: str, *, foreign_keys: bool = True) -> Engine:
    engine = _guarded(create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}))
    enforce = "ON" if foreign_keys else "OFF"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA foreign_keys={enforce}")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _refuse_nul_text(
    _conn: Connection, _cursor: Any, _statement: str, parameters: Any, context: Any, many: bool
) -> None:
    """Refuse text holding a NUL character before it reaches the driver, on every engine.

    PostgreSQL cannot store one (the driver raises, and the server answered 500) while
    SQLite stores it silently: one rule at the one place all text goes through keeps both
    engines alike and turns it into a 422 naming the field (a bound parameter's name,
    without SQLAlchemy's ``_1`` suffix; SQLite's positional parameters are named by the
    compiled statement).
    """
    for row in parameters if many else (parameters,):
        items = row.items() if isinstance(row, dict) else enumerate(row or ())
        for key, value in items:
            if isinstance(value, str) and "\x00" in value:
                names = getattr(getattr(context, "compiled", None), "positiontup", None) or ()
                name = names[key] if isinstance(key, int) and key < len(names) else key
                field = str(name).rstrip("0123456789").removesuffix("_")
                raise InvalidInput([Problem("request", 0, field, "text holds a NUL character")])


def _guarded(engine: Engine) -> Engine:
    event.listen(engine, "before_cursor_execute", _refuse_nul_text)
    return engine


class VersionedCache:
    """A small thread-safe LRU of values that are valid while their version is unchanged.

    Every read names the version it expects (a board's ``board_version``, a file's
    sha256), so an entry is never served stale, whichever process changed the data.
    """

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing = threading.Lock()
        self.size = size

    def get(self, key: Hashable, version: Hashable) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] != version:
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key: Hashable, version: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = (version, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get_or_compute(self, key: Hashable, version: Hashable, compute: Callable[[], T]) -> T:
        """The cached value, or ``compute()``'s, computed once however many threads ask at
        the same time (a burst of uploads must not parse the same truth file each)."""
        hit = self.get(key, version)
        if hit is not None:
            return cast(T, hit)
        with self._computing:
            hit = self.get(key, version)
            if hit is None:
                hit = compute()
                self.put(key, version, hit)
            return cast(T, hit)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Database:
    """A leaderboard database: ``session()`` for reads, ``transaction()`` for writes, and
    ``cache`` (and ``gaps``, the honest ranks' comparisons) for what this process may reuse
    between requests."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            if ":memory:" in self.url or self.url in ("sqlite://", "sqlite:///"):
                raise ValueError("use a SQLite file: scoring workers need to share the database")
            self.engine = _sqlite_engine(self.url, "BEGIN")
            self.write_engine = _sqlite_engine(self.url, "BEGIN IMMEDIATE")
        else:
            self.engine = _guarded(create_engine(self.url, pool_pre_ping=True, pool_size=10))
            self.write_engine = self.engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self.cache = VersionedCache()
        #: honest ranks: one paired bootstrap per pair of neighbouring board rows
        self.gaps = VersionedCache(size=8192)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session (rolled back at the end; never commits)."""
        with self._read() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back everything on any error."""
        with self._write() as session, session.begin():
            yield session

    # --- schema -------------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` with the Alembic migrations shipped in the
        package."""
        self._alembic(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        """Take the schema back down to ``revision`` (each migration has its way back)."""
        self._alembic(command.downgrade, revision)

    def _alembic(self, step: Callable[[Config, str], None], revision: str) -> None:
        """Run an Alembic command in one transaction.

        On SQLite a migration that changes a table rebuilds it (copy, drop, rename), which
        foreign keys would forbid while rows refer to it: they are checked once, after the
        migration, instead of during it.
        """
        if not self.is_sqlite:
            with self.write_engine.begin() as connection:
                step(alembic_config(connection), revision)
            return
        engine = _sqlite_engine(self.url, "BEGIN IMMEDIATE", foreign_keys=False)
        try:
            with engine.begin() as connection:
                step(alembic_config(connection), revision)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows with broken references: {broken}")
        finally:
            engine.dispose()

    def schema_revision(self) -> str | None:
        """The revision the database is at (None: no geoarena schema yet)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def require_current_schema(self) -> None:
        """Raise :class:`SchemaMismatch` unless the schema is the one this code expects."""
        current, head = self.schema_revision(), head_revision()
        if current == head:
            return
        if current is None:
            raise SchemaMismatch(
                f"{self.url}: no leaderboard schema; run `geoarena leaderboard init-db`"
            )
        raise SchemaMismatch(
            f"{self.url}: schema revision {current}, this geoarena needs {head}; "
            "run `geoarena leaderboard upgrade` (back up the database first)"
        )

    def dispose(self) -> None:
        self.engine.dispose()
        self.write_engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def open_database(url: str, *, migrate: bool = False) -> Database:
    """A database at ``url``, migrated to the latest schema when ``migrate``, else checked."""
    db = Database(url)
    try:
        if migrate:
            db.migrate()
        else:
            db.require_current_schema()
    except BaseException:
        db.dispose()
        raise
    return db
