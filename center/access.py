"""17999 access accounts (rule 12 in docs/OPERATOR.md; the manual's part one, chapter four).

No business subsystem opens until the enterprise holds a registered, unexpired account, or an emergency
authorisation of the data center (:func:`gate`). The five card types are named in :data:`sync.access.ACCOUNT_TYPES`;
their rules are :data:`ACCOUNT_RULES` here: a registration is valid from the card's first use (timed cards) or its first
registration (all others) for the card's term, and the annual cards also end when their 1,200 online hours are used
up. What has run out is removed by the system: lazily, for its enterprise, on every request, and for everyone by a
periodic sweep (:func:`remove_lapsed`).

"The account a request arrives through" (the online-state check) is given by the caller: see :mod:`sync.access`.
Every function runs inside its caller's transaction.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from center import enterprises
from center.db import access_accounts, access_cards, access_emergencies, as_utc, business_date
from center.ledger.identifiers import invalid_argument, is_int, require_text
from center.ledger.issuance import require_enterprise
from center.refusals import Refusal
from sync.access import ACCOUNT_TYPES, account_type_name, is_account

MAX_EMERGENCY_HOURS = 7 * 24  # the manual says "一定时限内"; a week covers a line that is down for days
MAX_USAGE_HOURS = Decimal(10000)
# scrypt at RFC 7914's interactive setting: slow enough to make guessing a stolen hash costly, fast per request.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
DELETED, EXPIRED, HOURS_USED_UP = "deleted", "expired", "hours_used_up"

When = TypeVar("When", bound=dt.date)  # a date or a datetime


@dataclass(frozen=True)
class AccountType:
    """The rules of one of the five kinds of 17999 card (the manual's part one, 4.1 and 4.3)."""

    name: str  # its name on the wire (sync.access.ACCOUNT_TYPES)
    terms: tuple[int, ...]  # months a card is valid; a broadband card says which of its two it has
    from_first_use: bool  # counted from the first time it went online, else from its first registration
    hour_limit: int | None  # online hours the card allows
    online_check: bool  # registering it needs the request to arrive through the account itself
    password: bool  # registering it needs the card's password
    user_may_delete: bool

    @property
    def zh(self) -> str:
        return ACCOUNT_TYPES[self.name]


ACCOUNT_RULES: dict[str, AccountType] = {
    t.name: t
    for t in (
        AccountType(
            "timed",
            (12,),
            from_first_use=True,
            hour_limit=None,
            online_check=True,
            password=False,
            user_may_delete=True,
        ),
        AccountType(
            "new-annual",
            (12,),
            from_first_use=False,
            hour_limit=1200,
            online_check=True,
            password=False,
            user_may_delete=True,
        ),
        AccountType(
            "broadband",
            (6, 12),
            from_first_use=False,
            hour_limit=None,
            online_check=False,
            password=True,
            user_may_delete=False,
        ),
        AccountType(
            "leased-line",
            (12,),
            from_first_use=False,
            hour_limit=None,
            online_check=False,
            password=True,
            user_may_delete=False,
        ),
        AccountType(
            "old-annual",
            (12,),
            from_first_use=False,
            hour_limit=1200,
            online_check=False,
            password=False,
            user_may_delete=True,
        ),
    )
}


def check_account(account: Any) -> str:
    if not isinstance(account, str) or not is_account(account.strip()):
        raise Refusal("ACCESS_ACCOUNT_INVALID", account=account)
    return account.strip()


def _type(text: Any) -> AccountType:
    name = account_type_name(text) if isinstance(text, str) else None
    if name is None:
        raise Refusal("ACCESS_TYPE_UNKNOWN", type=text)
    return ACCOUNT_RULES[name]


def _term(kind: AccountType, months: Any) -> int:
    """The card's term in months; a type with one term may leave it out, a broadband card says which it is."""
    if months in (None, "") and len(kind.terms) == 1:
        return kind.terms[0]
    if isinstance(months, str) and months.strip().isdigit():
        months = int(months)
    if not is_int(months) or months not in kind.terms:
        terms = "/".join(str(t) for t in kind.terms)
        raise Refusal("ACCESS_TERM_INVALID", type=kind.name, type_zh=kind.zh, terms=terms, months=months or "")
    return int(months)


def hash_password(password: str) -> str:
    """A salted scrypt hash: the only form in which a card's password is kept."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def add_months(moment: When, months: int) -> When:
    """The same moment ``months`` later; a day the month lacks becomes its last (31 Jan + 1 month = 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _day(moment: dt.datetime) -> str:
    return business_date(moment).isoformat()


def _card(conn: Connection, account: str) -> Row[Any] | None:
    return conn.execute(sa.select(access_cards).where(access_cards.c.account == account)).first()


def _lapse(kind: AccountType, expires_at: dt.datetime, hours_used: Decimal, now: dt.datetime) -> str | None:
    """Why a registration is no longer valid, if it is not."""
    if now >= as_utc(expires_at):
        return EXPIRED
    if kind.hour_limit is not None and hours_used >= kind.hour_limit:
        return HOURS_USED_UP
    return None


def describe(row: Any, hours_used: Decimal, now: dt.datetime) -> dict[str, Any]:
    """A registration as the clerk sees it in 帐号管理."""
    kind = ACCOUNT_RULES[row.type]
    status = row.removal or _lapse(kind, row.expires_at, hours_used, now) or "valid"
    return {
        "account": row.account,
        "type": kind.name,
        "type_zh": kind.zh,
        "months": row.months,
        "registered_at": as_utc(row.registered_at).isoformat(),
        "valid_from": as_utc(row.valid_from).isoformat(),
        "expires_at": as_utc(row.expires_at).isoformat(),
        "until": _day(row.expires_at),
        "hours_used": float(hours_used),
        "hour_limit": kind.hour_limit,
        "user_may_delete": kind.user_may_delete,
        "status": status,
        "removed_at": as_utc(row.removed_at).isoformat() if row.removed_at is not None else None,
    }


def note_arrival(conn: Connection, arriving: str | None, now: dt.datetime) -> None:
    """A request arrived through ``arriving``: the first time marks the card's first use (a timed card's start)."""
    if arriving is None or not is_account(arriving):
        return  # without the suffix no account is online (the manual's FAQ (二))
    card = _card(conn, arriving)
    if card is None:
        conn.execute(sa.insert(access_cards).values(account=arriving, first_online_at=now, hours_used=0))
    elif card.first_online_at is None:
        conn.execute(sa.update(access_cards).where(access_cards.c.account == arriving).values(first_online_at=now))


def register(
    conn: Connection,
    now: dt.datetime,
    enterprise: str,
    record: dict[str, Any],
    arriving: str | None,
    issuer: bool = False,
) -> dict[str, Any]:
    """注册卡号: ``record`` holds ``account``, ``type`` and, as the type needs, ``months`` and ``password``.

    The card's issuer (the telecom registers old annual cards when it sells them) is trusted with the card: its
    registration needs neither the password nor the online state. Every refusal comes before any write.
    """
    account = check_account(record.get("account"))
    kind = _type(record.get("type"))
    months = _term(kind, record.get("months"))
    password = record.get("password") or ""
    if not isinstance(password, str):
        raise Refusal("RECORD_INVALID", detail_zh="密码 password 应为文字", detail_en="'password' must be text")
    if not issuer and kind.password and not password:
        raise Refusal("ACCESS_PASSWORD_REQUIRED", type=kind.name, type_zh=kind.zh)
    if not issuer and kind.online_check and arriving != account:
        raise Refusal("ACCESS_NOT_ONLINE", account=account, type=kind.name, type_zh=kind.zh, via=arriving or "-")
    card = _card(conn, account)
    first = None if card is None else card.first_online_at if kind.from_first_use else card.first_registered_at
    valid_from = as_utc(first) if first is not None else now
    expires_at = add_months(valid_from, months)
    hours_used = Decimal(card.hours_used) if card is not None else Decimal(0)
    if expires_at <= now:
        since_zh, since_en = (
            ("自第一次上网起计算", "counted from its first use")
            if kind.from_first_use
            else ("自第一次注册起计算", "counted from its first registration")
        )
        raise Refusal(
            "ACCESS_ACCOUNT_EXPIRED", account=account, until=_day(expires_at), since_zh=since_zh, since_en=since_en
        )
    if kind.hour_limit is not None and hours_used >= kind.hour_limit:
        raise Refusal("ACCESS_HOURS_USED_UP", account=account, limit=kind.hour_limit)
    active = conn.execute(
        sa.select(access_accounts).where(access_accounts.c.account == account, access_accounts.c.removed_at.is_(None))
    ).first()
    if active is not None and active.enterprise_code == enterprise:
        raise Refusal("ACCESS_ACCOUNT_EXISTS", account=account, until=_day(active.expires_at))
    if active is not None:
        raise Refusal("ACCESS_ACCOUNT_TAKEN", account=account)
    if card is None:
        conn.execute(sa.insert(access_cards).values(account=account, first_registered_at=now, hours_used=0))
    elif card.first_registered_at is None:
        conn.execute(sa.update(access_cards).where(access_cards.c.account == account).values(first_registered_at=now))
    conn.execute(
        sa.insert(access_accounts).values(
            account=account,
            enterprise_code=enterprise,
            type=kind.name,
            months=months,
            password_hash=hash_password(password) if kind.password and password else None,
            registered_at=now,
            valid_from=valid_from,
            expires_at=expires_at,
        )
    )
    return show(conn, now, enterprise, account)


def _active(conn: Connection, enterprise: str | None) -> list[tuple[Row[Any], Decimal]]:
    """Registrations not removed (lapsed or not), each with its card's hours, oldest first."""
    query = (
        sa.select(access_accounts, access_cards.c.hours_used)
        .join(access_cards, access_cards.c.account == access_accounts.c.account)
        .where(access_accounts.c.removed_at.is_(None))
        .order_by(access_accounts.c.id)
    )
    if enterprise is not None:
        query = query.where(access_accounts.c.enterprise_code == enterprise)
    return [(row, Decimal(row.hours_used)) for row in conn.execute(query)]


class Sorted(NamedTuple):
    removed: int
    valid: int


def remove_lapsed(conn: Connection, now: dt.datetime, enterprise: str | None = None) -> Sorted:
    """Remove (mark removed) the registrations that have run out: one enterprise's, or with None everyone's."""
    removed = valid = 0
    for row, hours_used in _active(conn, enterprise):
        reason = _lapse(ACCOUNT_RULES[row.type], row.expires_at, hours_used, now)
        if reason is None:
            valid += 1
            continue
        conn.execute(
            sa.update(access_accounts)
            .where(access_accounts.c.id == row.id, access_accounts.c.removed_at.is_(None))
            .values(removed_at=now, removal=reason)
        )
        removed += 1
    return Sorted(removed, valid)


def gate(conn: Connection, now: dt.datetime, enterprise: str) -> Refusal | None:
    """The refusal of every business request while the enterprise has neither a valid account nor an emergency
    authorisation; None when its business is open. Lapsed accounts are removed on the way (the caller commits)."""
    if remove_lapsed(conn, now, enterprise).valid or _emergency(conn, now, enterprise) is not None:
        return None
    return Refusal("ACCESS_ACCOUNT_REQUIRED")


def overview(conn: Connection, now: dt.datetime, enterprise: str) -> dict[str, Any]:
    """帐号管理: the enterprise's registered accounts, its emergency authorisation, and whether business is open."""
    accounts = [describe(row, hours, now) for row, hours in _active(conn, enterprise)]
    emergency = _emergency(conn, now, enterprise)
    valid = any(a["status"] == "valid" for a in accounts)
    known = enterprises.facts(conn, enterprise)
    return {
        "enterprise": enterprise,
        "enterprise_name": known["name"],
        "org_code": known["org_code"],
        "open": valid or emergency is not None,
        "accounts": accounts,
        "emergency": emergency,
    }


def show(conn: Connection, now: dt.datetime, enterprise: str, account: str) -> dict[str, Any]:
    """One account of the enterprise: its current registration, else its last one (deleted or removed)."""
    account = check_account(account)
    row = conn.execute(
        sa.select(access_accounts, access_cards.c.hours_used)
        .join(access_cards, access_cards.c.account == access_accounts.c.account)
        .where(access_accounts.c.account == account, access_accounts.c.enterprise_code == enterprise)
        .order_by(access_accounts.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise Refusal("ACCESS_ACCOUNT_NOT_FOUND", account=account)
    return describe(row, Decimal(row.hours_used), now)


def delete(conn: Connection, now: dt.datetime, enterprise: str, account: str) -> dict[str, Any]:
    """The user deletes an account; a broadband or leased-line account stays until the system removes it."""
    account = check_account(account)
    row = conn.execute(
        sa.select(access_accounts, access_cards.c.hours_used)
        .join(access_cards, access_cards.c.account == access_accounts.c.account)
        .where(
            access_accounts.c.account == account,
            access_accounts.c.enterprise_code == enterprise,
            access_accounts.c.removed_at.is_(None),
        )
        .with_for_update()
    ).first()
    if row is None:
        raise Refusal("ACCESS_ACCOUNT_NOT_FOUND", account=account)
    kind = ACCOUNT_RULES[row.type]
    if not kind.user_may_delete:
        raise Refusal("ACCESS_ACCOUNT_NOT_DELETABLE", type=kind.name, type_zh=kind.zh, until=_day(row.expires_at))
    conn.execute(
        sa.update(access_accounts).where(access_accounts.c.id == row.id).values(removed_at=now, removal=DELETED)
    )
    return {**describe(row, Decimal(row.hours_used), now), "status": DELETED, "removed_at": now.isoformat()}


# The data center's and the network's side.


def _emergency(conn: Connection, now: dt.datetime, enterprise: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(access_emergencies)
        .where(
            access_emergencies.c.enterprise_code == enterprise,
            access_emergencies.c.ended_at.is_(None),
            access_emergencies.c.until > now,
        )
        .order_by(access_emergencies.c.until.desc())
        .limit(1)
    ).first()
    return None if row is None else _emergency_facts(row)


def _emergency_facts(row: Any) -> dict[str, Any]:
    return {
        "enterprise": row.enterprise_code,
        "reason": row.reason,
        "granted_at": as_utc(row.granted_at).isoformat(),
        "until": as_utc(row.until).isoformat(),
        "ended_at": as_utc(row.ended_at).isoformat() if row.ended_at is not None else None,
    }


def _end_emergencies(conn: Connection, now: dt.datetime, enterprise: str) -> int:
    done = conn.execute(
        sa.update(access_emergencies)
        .where(
            access_emergencies.c.enterprise_code == enterprise,
            access_emergencies.c.ended_at.is_(None),
            access_emergencies.c.until > now,
        )
        .values(ended_at=now)
    )
    return done.rowcount


def grant_emergency(conn: Connection, now: dt.datetime, enterprise: str, hours: Any, reason: Any) -> dict[str, Any]:
    """紧急授权 (FAQ (七)): business opens for ``hours`` with any access; a new grant replaces one in force."""
    require_enterprise(conn, enterprise)
    if not is_int(hours) or not 1 <= hours <= MAX_EMERGENCY_HOURS:
        raise invalid_argument(
            f"紧急授权时限应为1至{MAX_EMERGENCY_HOURS}小时", f"hours must be from 1 to {MAX_EMERGENCY_HOURS}"
        )
    reason = require_text(reason, "紧急授权依据（如传真编号、批准领导）", "reason (e.g. the fax and who approved it)")
    _end_emergencies(conn, now, enterprise)
    conn.execute(
        sa.insert(access_emergencies).values(
            enterprise_code=enterprise, reason=reason, granted_at=now, until=now + dt.timedelta(hours=hours)
        )
    )
    granted = _emergency(conn, now, enterprise)
    assert granted is not None  # just inserted, in this transaction
    return granted


def end_emergency(conn: Connection, now: dt.datetime, enterprise: str) -> dict[str, Any]:
    """The center ends an emergency authorisation before its time."""
    current = _emergency(conn, now, enterprise)
    if current is None or not _end_emergencies(conn, now, enterprise):
        raise Refusal("ACCESS_EMERGENCY_NOT_FOUND", enterprise=enterprise)
    return {**current, "ended_at": now.isoformat()}


def record_usage(conn: Connection, now: dt.datetime, account: Any, hours: Any) -> dict[str, Any]:
    """The 17999 network reports a card's online hours (what the annual cards' 1,200-hour limit counts)."""
    account = check_account(account)
    try:
        added = Decimal(str(hours))
    except InvalidOperation:
        added = Decimal(-1)
    if not added.is_finite() or not 0 < added <= MAX_USAGE_HOURS or added != round(added, 2):
        raise invalid_argument(
            f"使用时长“{hours}”应为正数（小时，最多两位小数）", f"hours '{hours}' must be positive (2 decimals at most)"
        )
    card = _card(conn, account)
    if card is None:
        conn.execute(sa.insert(access_cards).values(account=account, hours_used=added))
    else:
        conn.execute(
            sa.update(access_cards)
            .where(access_cards.c.account == account)
            .values(hours_used=access_cards.c.hours_used + added)
        )
    used = conn.scalar(sa.select(access_cards.c.hours_used).where(access_cards.c.account == account))
    return {"account": account, "hours_used": float(used or 0)}
