"""The plain endpoints of the gates before business (sync.access): 17999 access accounts and card permissions.

Who asks: the agent's device credential (``Authorization: EPort-Device ...``) names the enterprise, except for a
permission request, which the legal-person card's signature authenticates. Which account the request arrived
through: the ``X-EPort-Access-Account`` header (see sync.access). The HTTP app hands each request here as plain data
(center.requests), off its event loop, and turns the answer or the Refusal into JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from center.requests import PlainRequest, device_enterprise, json_object
from center.service import Center
from sync.access import API_ACCESS_ACCOUNT, API_ACCESS_ACCOUNTS, API_PERMISSIONS


def _list(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.access_accounts(device_enterprise(center, request), request.arriving)


def _register(center: Center, request: PlainRequest) -> dict[str, Any]:
    enterprise = device_enterprise(center, request)
    return center.register_access(enterprise, json_object(request.body), request.arriving)


def _show(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.access_account(device_enterprise(center, request), request.match["account"], request.arriving)


def _delete(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.delete_access(device_enterprise(center, request), request.match["account"], request.arriving)


def _permissions(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.permission_requests(device_enterprise(center, request))


def _request_permission(center: Center, request: PlainRequest) -> dict[str, Any]:
    return center.request_permission(json_object(request.body))


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
