"""Bounded work per request at the center (sync/limits.py): a body is checked for size and structure before it is
parsed, a batch for its records, forms and query conditions before its signature is checked and before the write
lock is taken; JSON nested too deep is a malformed request (400), never an internal error."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from center.refusals import Refusal
from sync.limits import (
    BODY_READ_SECONDS,
    MAX_BATCH_BYTES,
    MAX_BATCH_CONTAINERS,
    MAX_BATCH_FORMS,
    MAX_BATCH_RECORDS,
    MAX_JSON_DEPTH,
    MAX_QUERY_CONDITIONS,
    forms_named,
)


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The request's body, refused when it is larger than ``limit`` (said by its Content-Length before anything is
    read) or has not arrived within BODY_READ_SECONDS."""
    if limit is not None and (request.content_length or 0) > limit:
        raise Refusal("PAYLOAD_TOO_LARGE", limit_mb=max(1, limit // (1024 * 1024)))
    try:
        body = await asyncio.wait_for(request.read(), BODY_READ_SECONDS)
    except TimeoutError:
        raise Refusal("REQUEST_TIMEOUT", seconds=int(BODY_READ_SECONDS)) from None
    if limit is not None and len(body) > limit:
        raise Refusal("PAYLOAD_TOO_LARGE", limit_mb=max(1, limit // (1024 * 1024)))
    return body


def check_batch_body(body: bytes) -> None:
    """Cheap checks of an unauthenticated batch body before it is parsed."""
    if len(body) > MAX_BATCH_BYTES:
        raise Refusal("PAYLOAD_TOO_LARGE", limit_mb=MAX_BATCH_BYTES // (1024 * 1024))
    if body.count(b"{") + body.count(b"[") > MAX_BATCH_CONTAINERS:
        raise Refusal("BATCH_TOO_MANY_RECORDS", count=f"{MAX_BATCH_CONTAINERS}+", limit=MAX_BATCH_RECORDS)


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (iteratively: a deep value cannot exhaust the stack here)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    raise Refusal("BAD_REQUEST", detail=f"JSON nested deeper than {limit} levels")
                stack.append((child, depth + 1))


def check_batch(document: Any) -> None:
    """The batch's size in records, forms named and query conditions, before its signature or the write lock."""
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        return  # malformed: the document's own checks refuse it
    records = payload.get("records")
    if not isinstance(records, list):
        return  # malformed: the document's own checks refuse it
    if payload.get("kind") == "queries" and len(records) > MAX_QUERY_CONDITIONS:
        raise Refusal("QUERY_TOO_MANY_CONDITIONS", count=len(records), limit=MAX_QUERY_CONDITIONS)
    if len(records) > MAX_BATCH_RECORDS:
        raise Refusal("BATCH_TOO_MANY_RECORDS", count=len(records), limit=MAX_BATCH_RECORDS)
    forms = sum(forms_named(r) for r in records if isinstance(r, dict))
    if forms > MAX_BATCH_FORMS:
        raise Refusal("BATCH_TOO_MANY_FORMS", count=forms, limit=MAX_BATCH_FORMS)
