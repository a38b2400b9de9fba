"""The records of a batch, kind by kind (sync/protocol.py): each applied on its own, each answered on its own.

A form kind (filings, cancellations, submissions, losses) names forms one by one or as ranges; every form named gets
one result; a check (``checks``) names them the same way, with the operation to check, and changes nothing. The
forms of a batch are loaded (and locked) in one go, the rules run on them in record order (so a later record sees
what an earlier one did), and the changes are written together: a refused record leaves nothing behind and never
stops the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from center import access
from center.db import business_date
from center.ledger import forms as form_store
from center.ledger import issuance, query, rules
from center.ledger.identifiers import DECLARATION_NO, FORM_NO, check_form_no, is_int
from center.ledger.state import CANCEL_REQUESTED, FILED, LOST, SUBMITTED, Change, FormState
from center.ports import port_not_found, resolve_ports
from center.refusals import OK_CODE, SUBMITTED_ONE, SUCCESSES, Refusal
from center.statuses import label_en, label_zh
from sync.vocabulary import MAX_RANGE, expand_range


@dataclass(frozen=True)
class Answer:
    """The per-record results of a batch, and the matching rows of a query."""

    results: list[dict[str, Any]]
    rows: list[dict[str, Any]] | None = None


def _result(seq: int, kind: str, refusal: Refusal | None, extra: dict[str, Any], **facts: Any) -> dict[str, Any]:
    if refusal is None:
        success = SUCCESSES[kind]
        status, code, zh, en = "OK", OK_CODE, success.zh.format(**facts), success.en.format(**facts)
    else:
        status, code, zh, en = "ERROR", refusal.code, refusal.zh, refusal.en
    return {"seq": seq, **extra, "status": status, "code": code, "message_zh": zh, "message_en": en}


def _record_invalid(zh: str, en: str) -> Refusal:
    return Refusal("RECORD_INVALID", detail_zh=zh, detail_en=en)


def check_ranges(records: list[dict[str, Any]]) -> None:
    """Refuse the whole batch when a range's count is unusable: it fixes how many results the answer holds."""
    for record in records:
        if "start_form_no" in record:
            count: Any = record.get("count")
            if not is_int(count) or not 1 <= count <= MAX_RANGE:
                raise Refusal("RANGE_COUNT_INVALID", seq=record["seq"], count=count, limit=MAX_RANGE)


# Form kinds.


@dataclass(frozen=True)
class FormItem:
    """One form named by a record (a range names several); ``refusal`` when the record itself is malformed."""

    seq: int
    form_no: str | None
    record: dict[str, Any]
    refusal: Refusal | None = None


def expand(records: list[dict[str, Any]]) -> list[FormItem]:
    items: list[FormItem] = []
    for record in records:
        seq = record["seq"]
        if "start_form_no" in record:
            items += _expand_range(seq, record)
            continue
        form_no = record.get("form_no")
        if not isinstance(form_no, str) or not form_no:
            items.append(FormItem(seq, None, record, _record_invalid("缺少核销单号 form_no", "'form_no' is missing")))
            continue
        try:
            check_form_no(form_no)
        except Refusal as refusal:
            items.append(FormItem(seq, form_no, record, refusal))
            continue
        items.append(FormItem(seq, form_no, record))
    return items


def _expand_range(seq: int, record: dict[str, Any]) -> list[FormItem]:
    start, count = record["start_form_no"], record["count"]
    try:
        if not isinstance(start, str) or not FORM_NO.fullmatch(start):
            raise ValueError(f"'{start}' is not a form number")
        return [FormItem(seq, form_no, record) for form_no in expand_range(start, count)]
    except ValueError as exc:
        refusal = Refusal(
            "RANGE_INVALID",
            start=start,
            count=count,
            detail_zh="起始号应为9位核销单号，且号段不能超出其末尾数字",
            detail_en=str(exc),
        )
        return [FormItem(seq, None, record, refusal) for _ in range(count)]


@dataclass
class BatchContext:
    conn: Connection
    enterprise: str
    now: dt.datetime
    ports: dict[str, str | None] = field(default_factory=dict)  # port text → code, resolved once per batch
    arrived: set[str] = field(default_factory=set)  # declarations whose data has arrived

    def port(self, text: str) -> str | None:
        if text not in self.ports:
            self.ports.update(resolve_ports(self.conn, [text]))
        return self.ports[text]


# A form operation: (state, record, context) → new state, or a Refusal.
FormRule = Callable[[FormState, dict[str, Any], BatchContext], FormState]


def _file(form: FormState, record: dict[str, Any], ctx: BatchContext) -> FormState:
    port = record.get("port")
    if not isinstance(port, str) or not port.strip():
        raise _record_invalid("缺少口岸 port", "'port' is missing")
    return rules.file(form, ctx.port(port), lambda: port_not_found(ctx.conn, port))


def _submit(form: FormState, record: dict[str, Any], ctx: BatchContext) -> FormState:
    declaration_no = record.get("declaration_no") or ""
    if not isinstance(declaration_no, str) or (declaration_no and not DECLARATION_NO.fullmatch(declaration_no)):
        raise _record_invalid(
            f"报关单号“{declaration_no}”应为18位数字", f"declaration number '{declaration_no}' must be 18 digits"
        )
    arrived = form.declaration_no is not None and form.declaration_no in ctx.arrived
    return rules.submit(form, arrived, declaration_no, business_date(ctx.now))


FORM_RULES: dict[str, tuple[FormRule, str]] = {
    "filings": (_file, FILED),
    "cancellations": (lambda form, record, ctx: rules.cancel(form), CANCEL_REQUESTED),
    "submissions": (_submit, SUBMITTED),
    "losses": (lambda form, record, ctx: rules.report_lost(form), LOST),
}


def apply_forms(ctx: BatchContext, kind: str, records: list[dict[str, Any]]) -> Answer:
    rule, event = FORM_RULES[kind]
    items = expand(records)
    # 企业交单 submits one form and answers 交单完成; 批量交单 submits several: 交单成功 (the manual's words).
    success = SUBMITTED_ONE if kind == "submissions" and len(items) == 1 else kind
    states = _load(ctx, kind, records, items)
    changes: list[Change] = []
    results: list[dict[str, Any]] = []
    for item in items:
        try:
            if item.refusal is not None:
                raise item.refusal
            state = states.get(item.form_no or "")
            if state is None:  # unknown, or another enterprise's: the same answer (rule 10)
                raise Refusal("FORM_NOT_FOUND", form_no=item.form_no)
            new = rule(state, item.record, ctx)
        except Refusal as refusal:
            results.append(_result(item.seq, kind, refusal, {"form_no": item.form_no}))
            continue
        states[new.form_no] = new
        changes.append(Change(new, event))
        results.append(_result(item.seq, success, None, {"form_no": item.form_no}))
    form_store.save(ctx.conn, changes, ctx.now)
    return Answer(results)


def _load(ctx: BatchContext, kind: str, records: list[dict[str, Any]], items: list[FormItem]) -> dict[str, FormState]:
    """The forms the items name (the enterprise's own, locked), and what the kind's rules need to know besides."""
    named = [i.form_no for i in items if i.refusal is None and i.form_no is not None]
    states = form_store.load_for_update(ctx.conn, named, ctx.enterprise)
    texts = {r["port"] for r in records if isinstance(r.get("port"), str)}
    if texts:  # every port the batch names, in one query
        ctx.ports.update(resolve_ports(ctx.conn, texts))
    if kind in ("submissions", CHECKS_KIND):
        ctx.arrived = form_store.arrived(ctx.conn, (s.declaration_no for s in states.values() if s.declaration_no))
    return states


# Checks (核对): what an operation would do to each form a file names, before the clerk does it (the manual's lists
# with their confirmation, chapters 6, 9, 10). Nothing is changed.

CHECKS_KIND = "checks"
OPERATIONS = {
    "filings": ("filings", "口岸备案", "批量备案", "备案"),
    "cancellations": ("cancellations", "撤销备案", "撤销"),
    "submissions": ("submissions", "企业交单", "批量交单", "交单"),
    "losses": ("losses", "核销单挂失", "挂失"),
}
ACTIONS = {
    "filings": ("口岸备案", "filed at the port"),
    "cancellations": ("撤销备案", "have its filing cancelled"),
    "submissions": ("交单", "submitted"),
    "losses": ("挂失", "reported lost"),
}


def operation_of(text: Any) -> str | None:
    """The form kind an operation names, in English or by the manual's menu name."""
    word = text.strip().lower() if isinstance(text, str) else ""
    return next((kind for kind, names in OPERATIONS.items() if word in names), None)


def _check_facts(form: FormState | None) -> dict[str, Any]:
    if form is None:
        return dict.fromkeys(("safe_status_zh", "customs_status_zh", "submission_status_zh", "filed_port"))
    return {
        "safe_status_zh": label_zh(form.safe_status),
        "customs_status_zh": label_zh(form.customs_status),
        "submission_status_zh": label_zh(form.submission_status),
        "filed_port": form.port,
    }


def apply_checks(ctx: BatchContext, kind: str, records: list[dict[str, Any]]) -> Answer:
    """Each form a record names, with its statuses now and what the record's operation would do to it (in record
    order, as a batch of it would: a later record sees what an earlier one would have done)."""
    items = expand(records)
    now = _load(ctx, kind, records, items)
    would = dict(now)
    results: list[dict[str, Any]] = []
    for item in items:
        facts = {"form_no": item.form_no, "operation": item.record.get("operation"), **_check_facts(None)}
        try:
            if item.refusal is not None:
                raise item.refusal
            operation = operation_of(item.record.get("operation"))
            if operation is None:
                raise _record_invalid(
                    "操作应为：口岸备案、撤销备案、企业交单、核销单挂失之一",
                    "operation must be filings, cancellations, submissions or losses",
                )
            state = would.get(item.form_no or "")
            if state is None:  # unknown, or another enterprise's: the same answer (rule 10)
                raise Refusal("FORM_NOT_FOUND", form_no=item.form_no)
            facts.update(_check_facts(now[state.form_no]), operation=operation)
            new = FORM_RULES[operation][0](state, item.record, ctx)
        except Refusal as refusal:
            results.append(_result(item.seq, kind, refusal, facts))
            continue
        would[new.form_no] = new
        action_zh, action_en = ACTIONS[operation]
        results.append(
            _result(
                item.seq,
                kind,
                None,
                facts,
                action_zh=action_zh,
                action_en=action_en,
                safe_zh=label_zh(new.safe_status),
                customs_zh=label_zh(new.customs_status),
                submission_zh=label_zh(new.submission_status),
                safe_en=label_en(new.safe_status),
                customs_en=label_en(new.customs_status),
                submission_en=label_en(new.submission_status),
                port_zh=f"，口岸{new.port}" if new.port else "",
                port_en=f", port {new.port}" if new.port else "",
            )
        )
    return Answer(results)


# Applications.


def apply_applications(ctx: BatchContext, kind: str, records: list[dict[str, Any]]) -> Answer:
    results = []
    for record in records:
        remark = record.get("remark", "")
        try:
            if not isinstance(remark, str):
                raise _record_invalid("备注 remark 应为文字", "'remark' must be text")
            created = issuance.apply(ctx.conn, ctx.enterprise, record.get("copies"), remark.strip(), ctx.now)
        except Refusal as refusal:
            results.append(_result(record["seq"], kind, refusal, {"unified_no": None, "apply_date": None}))
            continue
        results.append(_result(record["seq"], kind, None, created, unified_no=created["unified_no"]))
    return Answer(results)


# Queries.


def apply_queries(ctx: BatchContext, kind: str, records: list[dict[str, Any]]) -> Answer:
    """One result per condition; the conditions are ANDed over one business and run only if all are valid."""
    parsed: list[query.Condition | Refusal] = []
    for record in records:
        try:
            parsed.append(query.parse_condition(record))
        except Refusal as refusal:
            parsed.append(refusal)
    conditions = [c for c in parsed if isinstance(c, query.Condition)]
    if conditions:
        first = conditions[0].business
        parsed = [_same_business(c, first) for c in parsed]
    if any(isinstance(c, Refusal) for c in parsed):
        not_run = Refusal("QUERY_NOT_RUN")
        results = [
            _result(r["seq"], kind, c if isinstance(c, Refusal) else not_run, {})
            for r, c in zip(records, parsed, strict=True)
        ]
        return Answer(results, [])
    rows = query.run(ctx.conn, ctx.enterprise, conditions[0].business, conditions)
    return Answer([_result(r["seq"], kind, None, {}) for r in records], rows)


def _same_business(condition: query.Condition | Refusal, first: query.Business) -> query.Condition | Refusal:
    if isinstance(condition, query.Condition) and condition.business is not first:
        return Refusal("QUERY_BUSINESS_MIXED", business=condition.business.name, first=first.name)
    return condition


# 17999 access accounts (注册卡号) from a file: the one kind open before the enterprise holds an account.

ACCESS_KIND = "access"


def apply_access(ctx: BatchContext, kind: str, records: list[dict[str, Any]]) -> Answer:
    """Each record registers one account. A batch arrives through no account of its own (it may be sent long after
    the file was dropped), so the types that need the online-state check are refused here: see center.access."""
    results = []
    for record in records:
        account = record.get("account") if isinstance(record.get("account"), str) else None
        try:
            registered = access.register(ctx.conn, ctx.now, ctx.enterprise, record, arriving=None)
        except Refusal as refusal:
            results.append(_result(record["seq"], kind, refusal, {"account": account, "expires_at": None}))
            continue
        extra = {"account": registered["account"], "expires_at": registered["expires_at"]}
        results.append(
            _result(record["seq"], kind, None, extra, account=registered["account"], until=registered["until"])
        )
    return Answer(results)


KINDS: dict[str, Callable[[BatchContext, str, list[dict[str, Any]]], Answer]] = {
    "applications": apply_applications,
    "queries": apply_queries,
    ACCESS_KIND: apply_access,
    CHECKS_KIND: apply_checks,
    **dict.fromkeys(FORM_RULES, apply_forms),
}


def check_kind(kind: str, records: list[dict[str, Any]]) -> None:
    """Batch-level checks that depend on the kind (before anything is applied)."""
    if kind not in KINDS:
        raise Refusal("KIND_UNSUPPORTED", kind=kind)
    check_ranges(records)


def apply_batch(ctx: BatchContext, kind: str, records: list[dict[str, Any]]) -> Answer:
    return KINDS[kind](ctx, kind, records)
