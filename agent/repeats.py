"""A file whose content the agent has taken before: a repeat as a clerk means it, decided by what became of the
earlier copy, never by the bytes alone (docs/CLERK.md, "同一个文件再次放入").

- A query is answered afresh, with the data as it is now, whatever it repeats.
- An earlier copy is still on its way (read, waiting for the card, being sent): the same bytes dropped again are
  an accident (Excel saving twice, a copy into two folders) and are answered once, with the first copy's outcome.
- An applications file identical to one the center applied within the last 24 hours is held: sent as it is, it
  would ask SAFE for forms twice. It says how to send it anyway (``eport-agent resend FILE``).
- Anything else is taken again: a file refused (errors file, refused whole, or rows refused by the center) once
  its cause is fixed, a submission after customs modified the declaration, a filing after a confirmed cancellation,
  a file moved out of the wrong folder. The center's rules answer a real double (already filed, already submitted),
  and the result says which earlier copy it repeats, and when.

A copy the agent itself put back into the inbox to be sent again (``agent.resend``) is always taken.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.store import Store
from l10n import pair
from l10n.times import local_text, parse
from outbox.files import workbook_of
from sync.states import BatchState

HOLD_APPLICATIONS = dt.timedelta(hours=24)
IN_FLIGHT = (
    BatchState.RECEIVED,
    BatchState.AWAITING_SIGNATURE,
    BatchState.SIGNED,
    BatchState.SENT,
    BatchState.ACKNOWLEDGED,
)


class Action(enum.Enum):
    NEW = "new"  # never seen: taken
    FINISH = "finish"  # recorded before a crash and not yet archived: archive it, nothing else
    AGAIN = "again"  # taken again, its result saying what it repeats
    DUPLICATE = "duplicate"  # the first copy is still on its way: answered once, with the first copy's outcome
    HOLD = "hold"  # an applications file applied within 24 hours: not sent unless the clerk asks (resend)


@dataclass(frozen=True)
class Repeat:
    action: Action
    earlier: dict[str, Any] | None = None  # the copy it repeats (agent.store.Store.copies)
    words: tuple[str, str] | None = None  # (Chinese, English): the note of a repeat, or why it was not taken

    def note(self) -> str | None:
        """The note a batch of it keeps for its result (JSON), if it repeats an earlier copy."""
        return json.dumps(list(self.words), ensure_ascii=False) if self.action is Action.AGAIN and self.words else None


def decide(
    store: Store, sha256: str, name: str, kind_of: Callable[[], str | None], now: dt.datetime | None = None
) -> Repeat:
    """What to do with a file of this content, named ``name``; ``kind_of()`` tells its kind (None: its folder and
    name do not), asked only for a content taken before."""
    copies = store.copies(sha256)
    if not copies:
        return Repeat(Action.NEW)
    latest = copies[0]
    kind = kind_of()
    if store.resend_pending(name, sha256):
        return Repeat(Action.AGAIN, latest, _words("repeat.resent", latest))
    if latest["archived_as"] is None:
        return Repeat(Action.FINISH, latest)
    if kind == "queries":
        return Repeat(Action.AGAIN, latest, _words("repeat.query", latest))
    on_its_way = next((c for c in copies if c["outcome"] == "batch" and c["state"] in IN_FLIGHT), None)
    if on_its_way is not None:
        return Repeat(Action.DUPLICATE, on_its_way, _duplicate(store, on_its_way))
    if kind == "applications":
        applied = next((c for c in copies if _applied(c)), None)
        when = parse(applied["updated_at"] or applied["received_at"]) if applied is not None else None
        if applied is not None and when is not None and (now or dt.datetime.now(dt.UTC)) - when < HOLD_APPLICATIONS:
            return Repeat(Action.HOLD, applied, _words("repeat.held", applied, file=name, at=local_text(when)))
    return Repeat(Action.AGAIN, latest, _words("repeat.again", latest))


def _applied(copy: dict[str, Any]) -> bool:
    """An applications batch the center answered with at least one application made."""
    return copy["kind"] == "applications" and copy["state"] == BatchState.DELIVERED and bool(copy["ok_count"])


def _words(key: str, earlier: dict[str, Any], **more: Any) -> tuple[str, str]:
    return pair(key, name=earlier["name"], when=local_text(earlier["received_at"]), **more)


def _duplicate(store: Store, first: dict[str, Any]) -> tuple[str, str]:
    """Why a copy of a file still on its way is not sent again, and where the first one's outcome will be."""
    zh, en = pair(f"state.{first['state']}")
    result = _result_name(store, first)
    outcome_zh = f"{zh}，结果见 {result}" if result else f"处理中（{zh}）"
    outcome_en = f"{en}, see {result}" if result else f"in progress ({en})"
    said_zh, said_en = _words("repeat.duplicate", first)
    return f"{said_zh}{outcome_zh}", f"{said_en}{outcome_en}"


def _result_name(store: Store, copy: dict[str, Any]) -> str | None:
    result = copy["result_file"] or (store.batch(copy["batch_id"])["result_file"] if copy["batch_id"] else None)
    return workbook_of(Path(result)).name if result else None
