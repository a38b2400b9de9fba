"""The export declarations' electronic data (报关单), which reaches the center separately from the form's use.

Customs uses a form in a declaration (the form becomes 已用); the declaration's data (报关单号, 批准文号 = the form
number, export date, port, trade mode, amount, currency) arrives later and is what a submission carries to SAFE.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import declarations
from center.ledger import forms as form_store
from center.ledger import rules
from center.ledger.identifiers import (
    check_currency,
    check_declaration_no,
    check_form_no,
    parse_amount,
    parse_date,
    require_text,
)
from center.ledger.state import DECLARATION_MODIFIED, DECLARED, Change, FormState
from center.ports import port_not_found, resolve_port
from center.refusals import Refusal


@dataclass(frozen=True)
class DeclarationData:
    declaration_no: str
    form_no: str  # 批准文号
    export_date: dt.date
    port: str
    trade_mode: str
    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, conn: Connection, raw: dict[str, Any]) -> DeclarationData:
        """Checked data from an authority's arguments (port by code or exact name)."""
        declaration_no, form_no = str(raw["declaration_no"]), str(raw["form_no"])
        check_declaration_no(declaration_no)
        check_form_no(form_no)
        currency = str(raw["currency"]).strip().upper()
        check_currency(currency)
        return cls(
            declaration_no=declaration_no,
            form_no=form_no,
            export_date=parse_date(raw["export_date"], "出口日期", "export date"),
            port=port_code(conn, str(raw["port"])),
            trade_mode=require_text(raw["trade_mode"], "贸易方式", "trade mode"),
            amount=parse_amount(raw["amount"]),
            currency=currency,
        )


def port_code(conn: Connection, text: str) -> str:
    code = resolve_port(conn, text)
    if code is None:
        raise port_not_found(conn, text)
    return code


def _locked_form(conn: Connection, form_no: str) -> FormState:
    form = form_store.load_for_update(conn, [form_no]).get(form_no)
    if form is None:
        raise Refusal("FORM_NOT_FOUND", form_no=form_no)
    return form


def declare(conn: Connection, data: DeclarationData, now: dt.datetime) -> FormState:
    """The declaration's data arrives: it must be the declaration that used the form, at the form's port."""
    form = _locked_form(conn, data.form_no)
    rules.accept_declaration(form, data.declaration_no)
    if data.port != form.port:
        raise Refusal("PORT_MISMATCH", form_no=form.form_no, filed_port=form.port, port=data.port)
    if conn.scalar(
        sa.select(declarations.c.declaration_no).where(declarations.c.declaration_no == data.declaration_no)
    ):
        raise Refusal("DECLARATION_EXISTS", declaration_no=data.declaration_no)
    conn.execute(
        sa.insert(declarations).values(
            declaration_no=data.declaration_no,
            enterprise_code=form.enterprise_code,
            approval_no=data.form_no,
            export_date=data.export_date,
            port=data.port,
            trade_mode=data.trade_mode,
            amount=data.amount,
            currency=data.currency,
            arrived_at=now,
        )
    )
    form_store.touch(conn, Change(form, DECLARED), now)
    return form


def modify(conn: Connection, declaration_no: str, changes: dict[str, Any], now: dt.datetime) -> FormState:
    """Customs modifies a declaration: its data changes and a submitted form must be submitted again (FAQ 2 (2))."""
    check_declaration_no(declaration_no)
    row = conn.execute(
        sa.select(declarations).where(declarations.c.declaration_no == declaration_no).with_for_update()
    ).first()
    if row is None:
        raise Refusal("DECLARATION_NOT_FOUND", declaration_no=declaration_no)
    form = _locked_form(conn, row.approval_no)
    after = rules.modified(form)
    values = _checked_changes(changes)
    conn.execute(
        sa.update(declarations).where(declarations.c.declaration_no == declaration_no).values(**values, modified_at=now)
    )
    form_store.save(conn, [Change(after, DECLARATION_MODIFIED)], now)
    return after


def _checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    checks = {
        "export_date": lambda v: parse_date(v, "出口日期", "export date"),
        "trade_mode": lambda v: require_text(v, "贸易方式", "trade mode"),
        "amount": parse_amount,
        "currency": _currency,
    }
    return {name: checks[name](value) for name, value in changes.items() if value is not None}


def _currency(value: Any) -> str:
    currency = str(value).strip().upper()
    check_currency(currency)
    return currency
