"""The authorities' operations on the ledger: SAFE approves, issues, verifies, voids forms and revokes their issuing;
customs uses forms in declarations, sends the declarations' data, modifies declarations, and confirms or refuses
cancellations.

Each runs inside its caller's transaction, takes the form's row lock, applies the rule and writes the change with its
event. Authorities act on every enterprise's forms, so forms are looked up without an enterprise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection

from center.ledger import declarations, issuance, rules
from center.ledger import forms as form_store
from center.ledger.identifiers import check_declaration_no, check_form_no, parse_date
from center.ledger.state import (
    CANCEL_CONFIRMED,
    CANCEL_REFUSED,
    ISSUANCE_REVOKED,
    USED,
    VERIFIED,
    VOIDED,
    Change,
    FormState,
)
from center.refusals import Refusal


def _form(conn: Connection, form_no: str) -> FormState:
    check_form_no(form_no)
    form = form_store.load_for_update(conn, [form_no]).get(form_no)
    if form is None:
        raise Refusal("FORM_NOT_FOUND", form_no=form_no)
    return form


def _change(conn: Connection, new: FormState, event: str, now: dt.datetime) -> dict[str, Any]:
    form_store.save(conn, [Change(new, event)], now)
    return {"form": form_store.find_form(conn, new.form_no)}


def confirm_cancel(conn: Connection, form_no: str, now: dt.datetime) -> dict[str, Any]:
    return _change(conn, rules.confirm_cancel(_form(conn, form_no)), CANCEL_CONFIRMED, now)


def refuse_cancel(conn: Connection, form_no: str, now: dt.datetime) -> dict[str, Any]:
    return _change(conn, rules.refuse_cancel(_form(conn, form_no)), CANCEL_REFUSED, now)


def use(
    conn: Connection, form_no: str, declaration_no: str, port: str, export_date: Any, now: dt.datetime
) -> dict[str, Any]:
    check_declaration_no(declaration_no)
    day = parse_date(export_date, "出口日期", "export date")
    code = declarations.port_code(conn, port)
    return _change(conn, rules.use(_form(conn, form_no), declaration_no, code, day), USED, now)


def declare(conn: Connection, data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    form = declarations.declare(conn, declarations.DeclarationData.parse(conn, data), now)
    return {"form": form_store.find_form(conn, form.form_no), "declaration_no": data["declaration_no"]}


def modify(conn: Connection, declaration_no: str, changes: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    form = declarations.modify(conn, declaration_no, changes, now)
    return {"form": form_store.find_form(conn, form.form_no), "declaration_no": declaration_no}


def verify(conn: Connection, form_no: str, now: dt.datetime) -> dict[str, Any]:
    return _change(conn, rules.verify(_form(conn, form_no)), VERIFIED, now)


def void(conn: Connection, form_no: str, now: dt.datetime) -> dict[str, Any]:
    """SAFE voids a form (注销)."""
    return _change(conn, rules.void(_form(conn, form_no)), VOIDED, now)


def revoke_issuance(conn: Connection, form_no: str, now: dt.datetime) -> dict[str, Any]:
    """SAFE revokes a form's issuing (发放登记表 是否撤销 = 是); the form is voided with it."""
    form = _form(conn, form_no)
    entry = issuance.entry_for_update(conn, form_no)
    if entry is not None and entry.revoked:
        raise Refusal("ISSUANCE_ALREADY_REVOKED", form_no=form_no, **form.status_facts("safe_status"))
    new = rules.revoke_issuance(form)
    issuance.mark_revoked(conn, form_no)
    return _change(conn, new, ISSUANCE_REVOKED, now)


def approve(conn: Connection, unified_no: str, copies: Any, now: dt.datetime) -> dict[str, Any]:
    return issuance.approve(conn, unified_no, copies, now)


def issue(
    conn: Connection, now: dt.datetime, unified_no: str | None, enterprise: str | None, copies: Any
) -> dict[str, Any]:
    """Issue against an approval (by unified number), or directly (``enterprise`` + ``copies``, for setting up)."""
    if unified_no and (enterprise or copies is not None):
        raise Refusal(
            "ARGUMENT_INVALID",
            detail_zh="按统一编号发单时不能再指定企业和份数",
            detail_en="give either a unified number or an enterprise and copies, not both",
        )
    if unified_no:
        return issuance.issue_approved(conn, unified_no, now)
    if not enterprise:
        raise Refusal(
            "ARGUMENT_INVALID",
            detail_zh="请指定统一编号，或企业和份数",
            detail_en="give a unified number, or an enterprise and copies",
        )
    return {"forms": issuance.issue(conn, enterprise, copies, now)}
