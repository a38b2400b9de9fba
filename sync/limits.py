"""Bounded work per batch: the limits the agent checks a dropped file against and the center checks a batch against
before it parses it fully, checks its signature or takes its write lock (docs/SECURITY.md lists them).

A batch over one of them is refused as a whole with its own code (center/refusals.py); the agent refuses such a
file in its errors file before anything is signed, so a clerk meets them there, not as a refused batch.
"""

from __future__ import annotations

import datetime as dt

MAX_BATCH_RECORDS = 5000  # rows (records) in one batch
MAX_BATCH_FORMS = 20000  # forms one batch names, each range row counted as the forms it names
MAX_QUERY_CONDITIONS = 100  # conditions in one query batch (组合查询)
# A dropped file of a kind whose rows stand alone (filings, losses ...) may hold more than one batch: the agent signs
# it as several batches of at most the limits above, its parts. These bound the whole file.
MAX_FILE_RECORDS = 2_000_000
MAX_FILE_FORMS = 2_000_000
# Kinds whose rows are read together, never split: a query's conditions combine, a check answers one question.
WHOLE_KINDS = frozenset({"queries", "checks"})
MAX_BATCH_BYTES = 4 * 1024 * 1024  # a batch request's body, read before its signature is checked
# A part of a split file holds records whose JSON, at worst escaped (a \u escape: 6 bytes a character), fills at most
# this much of a batch's body: the rest is for the document around them and the signature.
MAX_PART_TEXT_BYTES = MAX_BATCH_BYTES * 3 // 4
# JSON objects and arrays a batch body may hold before it is parsed: a record is one object, and the document
# around them a handful more (a brace in a text value counts too, hence the margin).
MAX_BATCH_CONTAINERS = 2 * MAX_BATCH_RECORDS + 64
MAX_PART_CONTAINERS = MAX_BATCH_CONTAINERS - 64  # a part's records' braces and brackets, values' included
MAX_JSON_DEPTH = 32  # nesting of any JSON body the center reads
BODY_READ_SECONDS = 30.0  # a request's body must have arrived within this long
# A batch's ``created_at`` (when the agent took the file), against the center's clock when the batch first arrives:
# at most this far ahead (a PC's clock set wrong; the device credential already allows five minutes of difference),
# and at most this old: an agent legitimately sends batches days after they were made (the card was out, the PC was
# away from the network), but a month-old filing or loss sent now would act on forms long changed since. A resent
# batch that was answered in time still gets its stored answer.
MAX_BATCH_AHEAD = dt.timedelta(minutes=10)
MAX_BATCH_AGE = dt.timedelta(days=30)


def forms_named(record: dict[str, object]) -> int:
    """How many forms a record names: a range row its count, any other record one."""
    count = record.get("count")
    if "start_form_no" in record and isinstance(count, int) and not isinstance(count, bool):
        return max(count, 1)
    return 1
