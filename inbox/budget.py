"""Bounded work per file: a dropped file over the limits (sync/limits.py) is refused in its errors file as soon as a
limit is passed — reading stops there, so a file far over them costs no more than one just over, and nothing over
them is ever signed. A file of a kind whose rows stand alone may hold several batches (its parts, agent.store_ingest):
it is bounded by the per-file limits; a query or a check is one batch and bounded by the per-batch ones."""

from __future__ import annotations

from inbox.schema import BatchKind
from inbox.sources import FileRefused, refuse
from l10n import pair
from sync.limits import (
    MAX_BATCH_FORMS,
    MAX_BATCH_RECORDS,
    MAX_FILE_FORMS,
    MAX_FILE_RECORDS,
    MAX_QUERY_CONDITIONS,
    WHOLE_KINDS,
)


class Budget:
    """Counts a file's rows and the forms they name; ``spend`` refuses the file once a limit is passed."""

    def __init__(self, kind: BatchKind) -> None:
        self.queries = kind.name == "queries"
        if self.queries:
            self.rows_limit, self.forms_limit, self.rows_key = (
                MAX_QUERY_CONDITIONS,
                MAX_BATCH_FORMS,
                "limits.conditions",
            )
        elif kind.name in WHOLE_KINDS:
            self.rows_limit, self.forms_limit, self.rows_key = MAX_BATCH_RECORDS, MAX_BATCH_FORMS, "limits.rows"
        else:
            self.rows_limit, self.forms_limit, self.rows_key = MAX_FILE_RECORDS, MAX_FILE_FORMS, "limits.file_rows"
        self.forms_key = "limits.forms" if kind.name in WHOLE_KINDS else "limits.file_forms"
        self.rows = 0
        self.forms = 0

    def spend(self, forms: int) -> None:
        self.rows += 1
        self.forms += max(forms, 1)
        if self.rows > self.rows_limit:
            raise _over(self.rows_key, self.rows_limit)
        if self.forms > self.forms_limit:
            raise _over(self.forms_key, self.forms_limit)


def _over(key: str, limit: int) -> FileRefused:
    zh, en = pair(key, limit=limit)
    return refuse(zh, en)
