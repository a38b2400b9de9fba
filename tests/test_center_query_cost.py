"""A combined query's cost is linear in its conditions (docs/SECURITY.md): its WHERE is one flat AND, whatever the
number of conditions, and a query at the limit (100 conditions) is parsed, built, compiled and run at once."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import BooleanClauseList

from center import db
from center.ledger import query
from center.service import Center
from sync.limits import MAX_QUERY_CONDITIONS
from tests.center_support import ENTERPRISE

THIS_YEAR = str(db.business_date(db.utcnow()).year)
KINDS = (  # every one met by the first form issued today
    ("form_no", "prefix", "0000"),
    ("safe_status", "eq", "有效"),
    ("issue_date", "prefix", f"{THIS_YEAR}年"),
    ("form_no", "eq", "000000001"),
    ("发单日期", "以……开始", THIS_YEAR),
)


def conditions(count: int) -> list[query.Condition]:
    records = [
        {"business": "核销单", "attribute": attribute, "op": op, "value": value}
        for attribute, op, value in (KINDS[i % len(KINDS)] for i in range(count))
    ]
    return [query.parse_condition(record) for record in records]


def where_of(statement: sa.Select[Any]) -> BooleanClauseList:
    [where] = statement._where_criteria  # one criterion: the AND built in one step
    assert isinstance(where, BooleanClauseList)
    return where


def test_the_where_clause_is_one_flat_and_of_every_condition() -> None:
    form = query.find_business("form")
    assert form is not None
    for count in (1, 10, MAX_QUERY_CONDITIONS):
        where = where_of(query.statement(ENTERPRISE, form, conditions(count)))
        assert len(where.clauses) == count + 1  # the enterprise, then each condition
        assert not any(isinstance(clause, BooleanClauseList) and clause.operator is where.operator for clause in where)


def test_building_and_compiling_grows_linearly() -> None:
    """Ten times the conditions make about ten times the SQL and the parameters (a nested or repeated AND would
    grow faster), and take about ten times as long (with a wide margin for a busy machine)."""
    form = query.find_business("form")
    assert form is not None

    def build(count: int) -> tuple[float, int, int]:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            compiled = query.statement(ENTERPRISE, form, conditions(count)).compile()
            best = min(best, time.perf_counter() - started)
        return best, len(str(compiled)), len(compiled.params)

    small, large = build(MAX_QUERY_CONDITIONS), build(10 * MAX_QUERY_CONDITIONS)
    assert 8 < large[1] / small[1] < 12 and 8 < large[2] / small[2] < 12
    assert large[0] < 40 * small[0]
    assert small[0] < 0.25


def test_a_query_of_100_conditions_is_answered_at_once(center: Center) -> None:
    center.issue_forms(ENTERPRISE, 200)
    form = query.find_business("form")
    assert form is not None
    started = time.perf_counter()
    parsed = conditions(MAX_QUERY_CONDITIONS)
    with center.engine.connect() as conn:
        rows = query.run(conn, ENTERPRISE, form, parsed)
    took = time.perf_counter() - started
    assert [r["form_no"] for r in rows] == ["000000001"]
    assert took < 1.0, took
