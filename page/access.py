"""Who may use the page: a browser that came in through a one-time link and holds the workspace's token in a cookie.

- The token lives in an HttpOnly, SameSite=Strict cookie for this port's path only; no URL carries it (the link
  carries a one-time ticket), and the agent keeps no access log.
- Only ``127.0.0.1:<port>`` or ``localhost:<port>`` as the Host (a page elsewhere that rebinds its name to this
  machine gets nothing).
- Every POST carries a CSRF token derived from the workspace's token, and an Origin other than the page's own is
  refused.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from aiohttp import web

PREFIX = "/page"


class Logins(Protocol):
    def redeem(self, ticket: str) -> bool: ...


def port_of(request: web.Request) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    return int(sockname[1]) if sockname else 0


def cookie_name(request: web.Request) -> str:
    # Cookies ignore ports: two agents' pages on one PC (two workspaces) each keep their own.
    return f"eport_page_{port_of(request)}"


def host_allowed(request: web.Request) -> bool:
    port = port_of(request)
    return request.host in (f"127.0.0.1:{port}", f"localhost:{port}")


def signed_in(request: web.Request, token: str) -> bool:
    held = request.cookies.get(cookie_name(request), "")
    return hmac.compare_digest(held.encode(), token.encode())


def csrf_token(token: str) -> str:
    """The form token of every POST: bound to this agent's token, so a page that cannot read ours cannot make it."""
    return hmac.new(token.encode(), b"eport-page-csrf", hashlib.sha256).hexdigest()


def post_allowed(request: web.Request, token: str, sent: str) -> bool:
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"http://{request.host}":
        return False
    return hmac.compare_digest(sent.encode(), csrf_token(token).encode())


def log_in(request: web.Request, token: str, logins: Logins) -> web.Response | None:
    """The one-time link's answer: the cookie and a redirect to the page (whose URL then holds no ticket); None
    when the ticket is not good and no cookie is held."""
    ticket = request.query.get("ticket", "")
    if not (ticket and logins.redeem(ticket)) and not signed_in(request, token):
        return None
    response = web.Response(status=303, headers={"Location": f"{PREFIX}/"})
    response.set_cookie(cookie_name(request), token, path=PREFIX, httponly=True, samesite="Strict")
    return response
