"""The plain endpoints of the gates before business (sync.access): 17999 access accounts and card permissions.

Who asks: the agent's device credential (``Authorization: EPort-Device ...``) names the enterprise, except for a
permission request, which the legal-person card's signature authenticates. Which account the request arrived
through: the ``X-EPort-Access-Account`` header (see sync.access). The HTTP app hands each request here as plain data,
off its event loop, and turns the answer or the Refusal into JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from center.refusals import Refusal
from center.service import Center
from sync.access import API_ACCESS_ACCOUNT, API_ACCESS_ACCOUNTS, API_PERMISSIONS, ARRIVING_ACCOUNT_HEADER
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
        return self.headers.get(ARRIVING_ACCOUNT_HEADER) or None

    def json_object(self) -> dict[str, Any]:
        try:
            body = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Refusal("BAD_REQUEST", detail=f"the body is not UTF-8 JSON ({exc})") from None
        if not isinstance(body, dict):
            raise Refusal("BAD_REQUEST", detail="the body must be a JSON object")
        return body


def device_enterprise(center: Center, request: PlainRequest) -> str:
    """The enterprise whose enrolled agent made this very request."""
    try:
        device = verify_device_authorization(
            request.headers.get("Authorization", ""),
            request.method,
            request.path_qs,
            request.body,
            center.ca_certificate(),
        )
    except SignatureError as exc:
        raise Refusal("DEVICE_UNAUTHORIZED", detail=str(exc)) from None
    return center.device_enterprise(device)


def _list(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.access_accounts(device_enterprise(center, request), request.arriving)


def _register(center: Center, request: PlainRequest) -> dict[str, Any]:
    enterprise = device_enterprise(center, request)
    return center.register_access(enterprise, request.json_object(), request.arriving)


def _show(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.access_account(device_enterprise(center, request), request.match["account"], request.arriving)


def _delete(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.delete_access(device_enterprise(center, request), request.match["account"], request.arriving)


def _permissions(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.permission_requests(device_enterprise(center, request))


def _request_permission(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.request_permission(request.json_object())


ROUTES: dict[tuple[str, str], Callable[[Center, PlainRequest], dict[str, Any]]] = {
    ("GET", API_ACCESS_ACCOUNTS): _list,
    ("POST", API_ACCESS_ACCOUNTS): _register,
    ("GET", API_ACCESS_ACCOUNT): _show,
    ("DELETE", API_ACCESS_ACCOUNT): _delete,
    ("GET", API_PERMISSIONS): _permissions,
    ("POST", API_PERMISSIONS): _request_permission,
}


def handle(center: Center, request: PlainRequest) -> dict[str, Any]:
    """Answer one request (blocking: run it off the event loop)."""
    return ROUTES[(request.method, request.route)](center, request)
