"""The rules of a form's life (docs/OPERATOR.md's rules and the manual, part two), as pure functions on its state.

Each takes a form's state, refuses (``Refusal``) when the manual does not allow the operation, and otherwise returns
the new state. Checks run in the order a clerk would want to hear them: the SAFE status first (a lost, verified or
voided form can do nothing more), then what customs did with it, then the operation's own preconditions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from center.ledger.state import FormState
from center.refusals import Refusal
from center.statuses import CustomsStatus, SafeStatus, SubmissionStatus

# How each operation is named inside the shared messages ("cannot be {action_en}" / "不能{action_zh}").
FILE = ("备案", "filed")
CANCEL = ("撤销备案", "have its filing cancelled")
USE = ("用于报关", "used in a declaration")
SUBMIT = ("交单", "submitted")
LOSE = ("挂失", "reported lost")
DECLARE = ("接收报关单数据", "given declaration data")
VOID = ("注销", "voided")
REVOKE = ("撤销发放", "have its issuing revoked")


def _action(action: tuple[str, str]) -> dict[str, str]:
    return {"action_zh": action[0], "action_en": action[1]}


def _require_valid(form: FormState) -> None:
    if form.safe_status != SafeStatus.VALID:
        raise Refusal("FORM_NOT_VALID", form_no=form.form_no, **form.status_facts("safe_status"))


def _refuse_used(form: FormState, action: tuple[str, str]) -> None:
    if form.customs_status == CustomsStatus.USED:
        raise Refusal("FORM_ALREADY_USED", form_no=form.form_no, **_action(action))


def _with(form: FormState, **changes: Any) -> FormState:
    return form._replace(**changes)


def file(form: FormState, port: str | None, unknown_port: Callable[[], Refusal]) -> FormState:
    """Rule 3, 口岸备案: a valid, unused form to an existing port (``port`` None: ``unknown_port()`` says why, with
    the ports the clerk may have meant). A filed form is cancelled (and confirmed) first."""
    _require_valid(form)
    _refuse_used(form, FILE)
    if form.customs_status in (CustomsStatus.FILED, CustomsStatus.CANCEL_PENDING):
        raise Refusal("FORM_ALREADY_FILED", form_no=form.form_no, **form.status_facts("customs_status"))
    if port is None:
        raise unknown_port()
    return _with(form, customs_status=CustomsStatus.FILED.value, port=port)


def cancel(form: FormState) -> FormState:
    """Rule 4, 撤销备案: only a filed form that customs has not used; customs must then confirm."""
    _require_valid(form)
    _refuse_used(form, CANCEL)
    if form.customs_status == CustomsStatus.CANCEL_PENDING:
        raise Refusal("CANCEL_ALREADY_PENDING", form_no=form.form_no)
    if form.customs_status != CustomsStatus.FILED:
        raise Refusal("FORM_NOT_FILED", form_no=form.form_no, **form.status_facts("customs_status"), **_action(CANCEL))
    return _with(form, customs_status=CustomsStatus.CANCEL_PENDING.value)


def _require_cancel_pending(form: FormState) -> None:
    if form.customs_status != CustomsStatus.CANCEL_PENDING:
        raise Refusal("CANCEL_NOT_PENDING", form_no=form.form_no, **form.status_facts("customs_status"))


def confirm_cancel(form: FormState) -> FormState:
    """Customs confirms a cancellation: the form is unused again and no longer tied to a port."""
    _require_cancel_pending(form)
    return _with(form, customs_status=CustomsStatus.UNUSED.value, port=None)


def refuse_cancel(form: FormState) -> FormState:
    """Customs refuses a cancellation (the form is being used at the port): the filing stands."""
    _require_cancel_pending(form)
    return _with(form, customs_status=CustomsStatus.FILED.value)


def use(form: FormState, declaration_no: str, port: str, export_date: dt.date) -> FormState:
    """Rule 5: an export declaration at the filed port uses the form."""
    _require_valid(form)
    _refuse_used(form, USE)
    if form.customs_status == CustomsStatus.CANCEL_PENDING:
        raise Refusal("FORM_CANCEL_PENDING", form_no=form.form_no, **_action(USE))
    if form.customs_status != CustomsStatus.FILED:
        raise Refusal("FORM_NOT_FILED", form_no=form.form_no, **form.status_facts("customs_status"), **_action(USE))
    if port != form.port:
        raise Refusal("PORT_MISMATCH", form_no=form.form_no, filed_port=form.port, port=port)
    return _with(form, customs_status=CustomsStatus.USED.value, declaration_no=declaration_no, export_date=export_date)


def accept_declaration(form: FormState, declaration_no: str) -> None:
    """Rule 5: a declaration's data belongs to the form that the declaration used (批准文号 = form number)."""
    if form.customs_status != CustomsStatus.USED:
        raise Refusal("FORM_NOT_USED", form_no=form.form_no, **form.status_facts("customs_status"), **_action(DECLARE))
    if form.declaration_no != declaration_no:
        raise Refusal("DECLARATION_MISMATCH", given=declaration_no, form_no=form.form_no)


def modified(form: FormState) -> FormState:
    """Customs modified the declaration: a submitted form must be submitted again (FAQ 2 (2))."""
    _require_valid(form)
    if form.submission_status == SubmissionStatus.SUBMITTED:
        return _with(form, submission_status=SubmissionStatus.RESUBMIT_REQUIRED.value)
    return form


def submit(form: FormState, data_arrived: bool, declaration_no: str, today: dt.date) -> FormState:
    """Rule 6, 企业交单 / 批量交单, with the two refusals of the manual's FAQ 1."""
    _require_valid(form)
    if form.customs_status == CustomsStatus.FILED:
        raise Refusal("FORM_FILED_NOT_USED", form_no=form.form_no)
    if form.customs_status != CustomsStatus.USED:
        raise Refusal("FORM_NOT_USED", form_no=form.form_no, **form.status_facts("customs_status"), **_action(SUBMIT))
    if not data_arrived:
        raise Refusal("DECLARATION_NOT_ARRIVED", form_no=form.form_no)
    if declaration_no and declaration_no != form.declaration_no:
        raise Refusal("DECLARATION_MISMATCH", given=declaration_no, form_no=form.form_no)
    if form.submission_status == SubmissionStatus.SUBMITTED:
        raise Refusal("ALREADY_SUBMITTED", form_no=form.form_no)
    return _with(form, submission_status=SubmissionStatus.SUBMITTED.value, submit_date=today)


def _require_blank(form: FormState, action: tuple[str, str]) -> None:
    """Customs status 未用 (unused, or filed and not used: "未用，已上传海关，可报关"), no cancellation pending."""
    _refuse_used(form, action)
    if form.customs_status == CustomsStatus.CANCEL_PENDING:
        raise Refusal("FORM_CANCEL_PENDING", form_no=form.form_no, **_action(action))


def _released(form: FormState, **changes: Any) -> FormState:
    """The form taken out of use: a port filing it had is released (customs can no longer declare with it)."""
    return _with(form, customs_status=CustomsStatus.UNUSED.value, port=None, **changes)


def report_lost(form: FormState) -> FormState:
    """Rule 7, 核销单挂失: SAFE status 有效 and customs status 未用 (either unused or filed); lost is final. A filed
    form's filing is released with it (docs/OPERATOR.md, where the manual and the design differ)."""
    _require_valid(form)
    _require_blank(form, LOSE)
    return _released(form, safe_status=SafeStatus.LOST.value)


def void(form: FormState) -> FormState:
    """SAFE voids a form (注销): a valid form customs has not used (its filing released), or a lost one; final."""
    if form.safe_status != SafeStatus.LOST:
        _require_valid(form)
        _require_blank(form, VOID)
    return _released(form, safe_status=SafeStatus.VOIDED.value)


def revoke_issuance(form: FormState) -> FormState:
    """SAFE revokes the issuing of a form (发放登记表: 是否撤销 = 是): a valid form customs has not used; it is voided
    with it (its filing released)."""
    _require_valid(form)
    _require_blank(form, REVOKE)
    return _released(form, safe_status=SafeStatus.VOIDED.value)


def verify(form: FormState) -> FormState:
    """Rule 8: SAFE verifies a submitted form."""
    _require_valid(form)
    if form.submission_status != SubmissionStatus.SUBMITTED:
        raise Refusal("FORM_NOT_SUBMITTED", form_no=form.form_no, **form.status_facts("submission_status"))
    return _with(form, safe_status=SafeStatus.VERIFIED.value)
