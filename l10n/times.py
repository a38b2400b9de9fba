"""Times as a clerk reads them: the PC's local time with its offset (Asia/Shanghai on the clerks' PCs). UTC stays on
the wire and in the store; it is turned into local time only where it is shown."""

from __future__ import annotations

import datetime as dt


def parse(value: str) -> dt.datetime | None:
    """An ISO time from the store or the wire (UTC when it names no offset); None if it is not one."""
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def local(when: dt.datetime) -> dt.datetime:
    return when.astimezone()


def offset_label(when: dt.datetime | None = None) -> str:
    """ "UTC+08:00": the PC's offset now (or at ``when``)."""
    moment = (when or dt.datetime.now(dt.UTC)).astimezone()
    text = moment.strftime("%z")
    return f"UTC{text[:3]}:{text[3:]}"


def local_text(value: str | dt.datetime | None, seconds: bool = True) -> str:
    """ "2026-06-01 20:00:05+08:00" for a time, "" for none; a text that is not a time is returned as it is."""
    if value is None or value == "":
        return ""
    when = value if isinstance(value, dt.datetime) else parse(value)
    if when is None:
        return str(value)
    moment = local(when if when.tzinfo else when.replace(tzinfo=dt.UTC))
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    zone = moment.strftime("%z")
    return f"{stamp}{zone[:3]}:{zone[3:]}"


def now_local() -> dt.datetime:
    return dt.datetime.now().astimezone()
