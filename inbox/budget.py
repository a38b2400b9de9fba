"""Bounded work per file: a dropped file over the per-batch limits the center enforces (sync/limits.py) is refused
in its errors file as soon as the limit is passed — reading stops there, so a file of a million rows costs no more
than one just over the limit, and nothing over them is ever signed."""

from __future__ import annotations

from inbox.schema import BatchKind
from inbox.sources import FileRefused, refuse
from l10n import pair
from sync.limits import MAX_BATCH_FORMS, MAX_BATCH_RECORDS, MAX_QUERY_CONDITIONS


class Budget:
    """Counts a file's rows and the forms they name; ``spend`` refuses the file once a limit is passed."""

    def __init__(self, kind: BatchKind) -> None:
        self.rows_limit = MAX_QUERY_CONDITIONS if kind.name == "queries" else MAX_BATCH_RECORDS
        self.queries = kind.name == "queries"
        self.rows = 0
        self.forms = 0

    def spend(self, forms: int) -> None:
        self.rows += 1
        self.forms += max(forms, 1)
        if self.rows > self.rows_limit:
            raise _over("limits.conditions" if self.queries else "limits.rows", self.rows_limit)
        if self.forms > MAX_BATCH_FORMS:
            raise _over("limits.forms", MAX_BATCH_FORMS)


def _over(key: str, limit: int) -> FileRefused:
    zh, en = pair(key, limit=limit)
    return refuse(zh, en)
