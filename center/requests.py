"""What every endpoint of the center's API does alike with a request: read its JSON body, and tell which enrolled
agent (device credential, ``Authorization: EPort-Device ...``) made it and for which enterprise.

A request is handed off the event loop as plain data (:class:`PlainRequest`); the checks below are blocking (the
device's registration is read from the database) and raise a :class:`Refusal` that the app turns into the answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from center.limits import check_depth, read_body
from center.refusals import Refusal
from center.service import Center
from sync.access import ARRIVING_ACCOUNT_HEADER
from sync.limits import MAX_JSON_DEPTH
from sync.protocol import SignatureError, verify_device_authorization


@dataclass(frozen=True)
class PlainRequest:
    method: str
    route: str  # the route's path template, e.g. /api/v1/access/accounts/{account}
    path_qs: str  # what the device authorization is bound to
    match: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def arriving(self) -> str | None:
        """The 17999 account the request arrived through (see sync.access)."""
        return self.headers.get(ARRIVING_ACCOUNT_HEADER) or None


async def plain_request(request: web.Request) -> PlainRequest:
    """The request with its whole body, as plain data."""
    route = request.match_info.route.resource
    return PlainRequest(
        request.method,
        route.canonical if route is not None else request.path,
        request.path_qs,
        dict(request.match_info),
        request.headers,
        await read_body(request),
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """The body as JSON, any value; a body that is not UTF-8 JSON is refused (BAD_REQUEST)."""
    try:
        # NaN/Infinity are not JSON and have no canonical form to sign, so they are refused here.
        parsed = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refusal("BAD_REQUEST", detail=f"the body is not UTF-8 JSON ({exc})") from None
    except RecursionError:  # nested deeper than the parser goes: malformed, not an internal error
        raise Refusal("BAD_REQUEST", detail=f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_depth(parsed)
    return parsed


def json_object(body: bytes, detail: str = "the body must be a JSON object") -> dict[str, Any]:
    """The body as a JSON object; anything else is refused (BAD_REQUEST) with ``detail``."""
    parsed = parse_json(body)
    if not isinstance(parsed, dict):
        raise Refusal("BAD_REQUEST", detail=detail)
    return parsed


def device_enterprise(center: Center, request: PlainRequest) -> str:
    """The enterprise whose enrolled agent made this very request (the device authorization is bound to its method,
    path and body, and good once); refused with DEVICE_UNAUTHORIZED, AUTH_REPLAYED, or as the center refuses an
    unknown or revoked device."""
    now = time.time()
    try:
        authorization = verify_device_authorization(
            request.headers.get("Authorization", ""),
            request.method,
            request.path_qs,
            request.body,
            center.ca_certificate(),
            now,
        )
    except SignatureError as exc:
        raise Refusal("DEVICE_UNAUTHORIZED", detail=str(exc)) from None
    return center.authorize_device(authorization, now)
