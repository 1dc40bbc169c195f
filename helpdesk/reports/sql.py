"""SQL expressions that each engine spells differently, compiled per dialect.

Reports aggregate in the database; these few constructs let one query run unchanged on SQLite
and PostgreSQL and return the same values (whole seconds, text period labels).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement[int]):
    """Whole seconds from the first timestamp to the second."""

    type = Integer()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400) AS INTEGER)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(ROUND(EXTRACT(EPOCH FROM ({end} - {start}))) AS INTEGER)"


class period_of(FunctionElement[str]):
    """The period a timestamp (UTC) falls in: "2026-03" for months, the Monday for weeks."""

    type = String()
    inherit_cache = True
    name = "period_of"

    def __init__(self, instant: SQLCoreOperations[Any], period: str) -> None:
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}")
        self.period = period
        super().__init__(instant)


PERIODS = ("week", "month")


@compiles(period_of, "sqlite")
def _period_sqlite(element: period_of, compiler: SQLCompiler, **kw: Any) -> str:
    instant = compiler.process(next(iter(element.clauses)), **kw)
    if element.period == "month":
        return f"strftime('%Y-%m', {instant})"
    # "weekday 0" moves to the coming Sunday (or stays on one); six days back is its Monday.
    return f"date({instant}, 'weekday 0', '-6 days')"


@compiles(period_of, "postgresql")
def _period_postgresql(element: period_of, compiler: SQLCompiler, **kw: Any) -> str:
    instant = compiler.process(next(iter(element.clauses)), **kw)
    if element.period == "month":
        return f"to_char({instant}, 'YYYY-MM')"
    return f"to_char(date_trunc('week', {instant}), 'YYYY-MM-DD')"
