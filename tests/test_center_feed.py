"""A page of the update feed is read as of one moment: a form's change and an application's entry committed while
the page is being read never leave the earlier one behind the agent's cursor (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Connection

from center import feed
from center.service import Center
from tests.center_support import ENTERPRISE, Desk, center, client, db_url, desk  # noqa: F401  (fixtures)


class WritesBetween:
    """A connection that lets ``meanwhile`` commit, in another transaction, right after its first statement: the
    moment another agent's work lands while this page is read."""

    def __init__(self, conn: Connection, meanwhile: Any) -> None:
        self.conn, self.meanwhile = conn, meanwhile

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = self.conn.execute(*args, **kwargs)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return result


async def test_no_entry_is_left_behind_the_cursor_by_a_commit_while_a_page_is_read(
    center: Center,  # noqa: F811
    desk: Desk,  # noqa: F811
) -> None:
    if center.engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the center reads a page in one transaction, which holds writers off until it ends")
    unified_no = (await desk.one("applications", copies=2, remark="四季度"))["unified_no"]
    center.issue_forms(ENTERPRISE, 1)  # entry 1: a form issued

    def meanwhile() -> None:  # each committed on its own, as two other requests would
        center.issue_forms(ENTERPRISE, 1)  # entry 2: another form issued
        center.safe_approve(unified_no)  # entry 3: SAFE approved the application

    seen: list[int] = []
    with center.engine.connect() as conn:
        page = feed.updates_after(WritesBetween(conn, meanwhile), ENTERPRISE, 0, 100)  # type: ignore[arg-type]
        seen += [int(entry["seq"]) for entry in page]
        cursor = max(seen)
        seen += [int(entry["seq"]) for entry in feed.updates_after(conn, ENTERPRISE, cursor, 100)]

    assert sorted(seen) == seen and len(seen) == 3, seen
