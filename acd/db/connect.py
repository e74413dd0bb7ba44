"""Opening the records database: one URL form for people, the async driver for the code.

People write ``sqlite:///var/records.db`` or ``postgresql://user@host/db``; the
data layer needs ``sqlite+aiosqlite`` and ``postgresql+asyncpg``.  A password is
never in the config file: it comes from ``$HOTLINE_DB_PASSWORD`` and is hidden
whenever the URL is shown.
"""

from __future__ import annotations

import os
import pathlib

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

PASSWORD_ENV = "HOTLINE_DB_PASSWORD"
VAR = pathlib.Path(__file__).resolve().parent.parent.parent / "var"
DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


class DbError(Exception):
    """A records-database problem phrased for the person running the command (one line)."""


class DbUnavailable(DbError):
    """The database does not answer: writes spool locally, reports cannot run."""


def parse_url(text: str) -> URL:
    """The async-driver URL for ``text``; a wrong URL is a :class:`DbError` naming it."""
    try:
        url = make_url(str(text).strip())
    except ArgumentError:
        raise DbError(f"database URL {text!r}: expected sqlite:///FILE or postgresql://USER@HOST/DB") from None
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        raise DbError(f"database URL {shown(url)}: only sqlite and postgresql are supported")
    if "+" not in url.drivername:
        url = url.set(drivername=DRIVERS[backend])
    if url.password is None and os.environ.get(PASSWORD_ENV) and backend != "sqlite":
        url = url.set(password=os.environ[PASSWORD_ENV])
    if backend == "sqlite" and url.database and url.database != ":memory:":
        folder = pathlib.Path(url.database).parent
        if folder == VAR:
            folder.mkdir(exist_ok=True)      # the project's own data folder: made on first use
        if not folder.is_dir():
            raise DbError(f"database URL {shown(url)}: folder {folder} does not exist")
    return url


def shown(url: URL | str) -> str:
    """The URL as logs and messages may show it: never the password."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return url
    return url.render_as_string(hide_password=True)


def open_engine(url: URL | str, *, pool_size: int = 5) -> AsyncEngine:
    url = parse_url(url) if isinstance(url, str) else url
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # The driver would run DDL outside any transaction; an explicit BEGIN makes a failed
        # migration roll back on SQLite as it does on PostgreSQL.
        event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    return create_async_engine(url, pool_size=pool_size, pool_pre_ping=True,
                               connect_args={"timeout": 5, "command_timeout": 30})


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL lets reports read while the writer writes; a busy database waits instead of failing."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
    dbapi_conn.isolation_level = None      # transactions begin where SQLAlchemy says (see open_engine)


async def ping(engine: AsyncEngine) -> None:
    """Raise :class:`DbUnavailable` with the address when the database does not answer."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise DbUnavailable(f"cannot reach the records database at {shown(engine.url)}: {reason(exc)}") from None


def reason(exc: BaseException) -> str:
    """The driver's own words, one line, without SQLAlchemy's background links."""
    inner = getattr(exc, "orig", None) or exc
    words = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return words.split(" (Background on this error")[0]
