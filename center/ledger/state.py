"""A form's state as plain data: what the rules read and write, and what a change is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from center.statuses import label_en, label_zh


class FormState(NamedTuple):
    """The columns of ``forms`` that the rules read or change, in table order.

    A tuple rather than a dataclass: a batch changes thousands of these, and ``_replace`` is three times cheaper
    than ``dataclasses.replace``.
    """

    form_no: str
    enterprise_code: str
    safe_status: str
    customs_status: str
    submission_status: str
    port: str | None
    declaration_no: str | None
    export_date: dt.date | None
    submit_date: dt.date | None

    def status_facts(self, family: str) -> dict[str, str]:
        """``status_zh`` / ``status_en`` of one status family, for a refusal's message."""
        status = getattr(self, family)
        return {"status_zh": label_zh(status), "status_en": label_en(status)}


@dataclass(frozen=True)
class Change:
    """A form's new state and the name of the event that made it (one ``form_events`` row)."""

    state: FormState
    event: str


# Event names of the update feed, one per operation that changes a form.
ISSUED = "issued"
FILED = "filed"
CANCEL_REQUESTED = "cancel_requested"
CANCEL_CONFIRMED = "cancel_confirmed"
CANCEL_REFUSED = "cancel_refused"
USED = "used"
DECLARED = "declared"
DECLARATION_MODIFIED = "declaration_modified"
SUBMITTED = "submitted"
LOST = "lost"
VERIFIED = "verified"
VOIDED = "voided"
ISSUANCE_REVOKED = "issuance_revoked"
# The feed's entries about an application (application_events), not about one form.
APPLICATION_APPROVED = "application_approved"
APPLICATION_ISSUED = "application_issued"
