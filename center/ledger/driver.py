"""Statements run through the database driver's own ``executemany``, for the hot path of a batch.

A batch reads and writes hundreds of forms at once; SQLAlchemy's per-row parameter processing would cost more than
the database work. A ``DriverStatement`` is a Core statement compiled once per dialect (so the SQL stays one
definition for SQLite and PostgreSQL), whose parameters are converted by the column types' own bind processors and
handed to the driver in its paramstyle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]
Prepared = tuple[str, tuple[str, ...] | None, dict[str, Processor]]  # SQL, positional order, bind processors


class DriverStatement:
    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, Prepared] = {}

    def _prepare(self, dialect: Dialect) -> Prepared:
        prepared = self._compiled.get(dialect.name)
        if prepared is None:
            compiled = self._statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            processors: dict[str, Processor] = {}
            for name, bind in compiled.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            prepared = self._compiled[dialect.name] = (compiled.string, order, processors)
        return prepared

    def _arguments(self, dialect: Dialect, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[Any]]:
        sql, order, processors = self._prepare(dialect)
        if processors:
            rows = [{k: processors[k](v) if k in processors else v for k, v in row.items()} for row in rows]
        if order is not None:
            return sql, [tuple(row[name] for name in order) for row in rows]
        return sql, [dict(row) for row in rows]

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            sql, arguments = self._arguments(conn.dialect, rows)
            conn.exec_driver_sql(sql, arguments)

    def execute(self, conn: Connection, row: Mapping[str, Any]) -> CursorResult[Any]:
        """One execution; the result rows hold the driver's own values (see :func:`as_date`)."""
        sql, [arguments] = self._arguments(conn.dialect, [row])
        return conn.exec_driver_sql(sql, arguments)


def as_date(value: Any) -> dt.date | None:
    """A date column read through the driver: PostgreSQL gives a date, SQLite its ISO text."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)
