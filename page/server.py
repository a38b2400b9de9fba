"""The page's requests: who may ask (page.access), what each path answers, and the templates that draw it.

``handle`` is called by the agent's control server (agent.control) for every path under /page; the facade's blocking
calls (store, card) run off the event loop. Every action is a POST with the CSRF token and answers with a redirect to
the page, which then says what was done (post/redirect/get: a reload never repeats an action).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from page import access, views
from page.words import WORDS, language, words

HERE = Path(__file__).resolve().parent
SHOWN_ROWS = 500  # rows of a result or errors file shown on the page (the whole file is a download away)
LINKS = ("result", "errors", "receipt", "source")
PREVIEW_FIELDS = ("operation", "form_no", "start_form_no", "count", "port")  # the preview form's inputs
MEDIA = {".csv": "text/csv", ".xml": "application/xml", ".jws": "application/jose", ".css": "text/css"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # (no-referrer would make form posts carry "Origin: null")
    "Cache-Control": "no-store",
}


class PageFacade(Protocol):
    """The part of the agent facade (agent.facade.Agent) the page calls."""

    def overview(self) -> dict[str, Any]: ...
    def files(self, **wanted: Any) -> dict[str, Any]: ...
    def file(self, key: str) -> dict[str, Any] | None: ...
    def file_path(self, key: str, what: str) -> Path | None: ...
    def forms(self, **wanted: Any) -> dict[str, Any]: ...
    def form_history(self, form_no: str) -> list[dict[str, Any]]: ...
    def check_receipt(self, key: str) -> dict[str, Any] | None: ...
    def try_unlock(self, pin: str) -> dict[str, Any]: ...
    def request_sync(self, force: bool = False) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def resend(self, key: str) -> dict[str, Any]: ...
    def preview(self, **given: str) -> dict[str, Any]: ...
    def preview_answer(self, ref: str) -> dict[str, Any] | None: ...


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
_templates.filters["local"] = views.local
_notes: dict[str, tuple[bool, str]] = {}  # what an action did, shown once by the page it redirects to


async def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kwargs))


class Page:
    def __init__(self, request: web.Request, agent: PageFacade, token: str) -> None:
        self.request, self.agent, self.token = request, agent, token
        self.lang = language()
        self.say = words(self.lang)

    def render(self, template: str, status: int = 200, **values: Any) -> web.Response:
        html = _templates.get_template(template).render(
            say=self.say,
            lang=self.lang,
            csrf=access.csrf_token(self.token),
            kinds=views.kinds(self.lang),
            zone=views.zone(),
            query=self.request.query,
            **values,
        )
        return web.Response(text=html, content_type="text/html", status=status, headers=HEADERS)

    def said(self, key: str, **values: Any) -> str:
        return self.say[key].format(**values)

    def done(self, ok: bool, text: str, **shown: str) -> web.Response:
        """Back to the page, which says ``text`` once (and shows ``shown``: a preview's answer as it comes)."""
        if len(_notes) > 100:
            _notes.clear()
        note = secrets.token_urlsafe(8)
        _notes[note] = (ok, text)
        return web.Response(status=303, headers={"Location": f"{access.PREFIX}/?{urlencode({**shown, 'note': note})}"})

    # -- reading ------------------------------------------------------------------------------------------------

    def _file_filter(self) -> dict[str, Any]:
        q = self.request.query
        page = q.get("page", "1")
        return {
            "day": q.get("day", ""),
            "kind": q.get("kind", "") if q.get("kind", "") in views.kinds("en") else "",
            "outcome": q.get("outcome", "") if q.get("outcome", "") in views.OUTCOME_KEYS else "",
            "q": q.get("q", "")[:100],
            "page": int(page) if page.isdigit() else 1,
        }

    async def _live(self) -> dict[str, Any]:
        wanted = self._file_filter()
        try:
            listed = await blocking(self.agent.files, **wanted)
        except ValueError:  # a day that is no date
            listed = await blocking(self.agent.files, **{**wanted, "day": ""})
        ref = self.request.query.get("preview", "")[:400]  # a check asked for on the page, shown as it goes
        preview = await blocking(self.agent.preview_answer, ref) if ref else None
        top = views.top(await blocking(self.agent.overview))
        return {"top": top, "listed": listed, "wanted": wanted, "preview": preview}

    async def index(self, status: int = 200, **asked: Any) -> web.StreamResponse:
        """The files page; ``asked``: the preview form as the clerk filled it and what was wrong with it."""
        note = _notes.pop(self.request.query.get("note", ""), None)
        return self.render(
            "index.html",
            status=status,
            note=note,
            outcomes=views.OUTCOME_KEYS,
            operations=views.operations(self.lang),
            asked=asked.get("asked", {}),
            problems=asked.get("problems", []),
            **await self._live(),
        )

    async def live(self) -> web.StreamResponse:
        """The live part (the top and the files) for the page's script: 304 while nothing changed."""
        response = self.render("live.html", **await self._live())
        assert response.text is not None
        etag = hashlib.sha256(response.text.encode()).hexdigest()[:32]
        if self.request.headers.get("If-None-Match") == f'"{etag}"':
            return web.Response(status=304, headers=HEADERS)
        response.headers["ETag"] = f'"{etag}"'
        return response

    async def forms(self) -> web.StreamResponse:
        q = self.request.query
        page = q.get("page", "1")
        wanted = {"status": q.get("status", ""), "port": q.get("port", "")[:10], "q": q.get("q", "")[:20]}
        listed = await blocking(self.agent.forms, **wanted, page=int(page) if page.isdigit() else 1)
        return self.render("forms.html", listed=listed, wanted=wanted)

    async def form(self) -> web.StreamResponse:
        form_no = self.request.query.get("no", "")[:20]
        history = await blocking(self.agent.form_history, form_no)
        return self.render("form.html", form_no=form_no, history=history)

    async def view(self) -> web.StreamResponse:
        """A result or errors file as a table on the page; other files are downloads."""
        key, what = self.request.query.get("key", ""), self.request.query.get("what", "")
        found = await blocking(self.agent.file, key)
        path = await blocking(self.agent.file_path, key, what) if what in LINKS else None
        if found is None or path is None:
            return self.render("missing.html", status=404)
        if path.suffix.lower() != ".csv" or what == "source":
            return await self.raw()
        header, rows, more = await blocking(_read_table, path)
        return self.render("view.html", file=found, what=what, name=path.name, header=header, rows=rows, more=more)

    async def raw(self) -> web.StreamResponse:
        key, what = self.request.query.get("key", ""), self.request.query.get("what", "")
        path = await blocking(self.agent.file_path, key, what) if what in LINKS else None
        if path is None:
            return self.render("missing.html", status=404)
        headers = {
            **HEADERS,
            "Content-Type": MEDIA.get(path.suffix.lower(), "application/octet-stream"),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(path.name)}",
        }
        return web.FileResponse(path, headers=headers)

    async def receipt(self) -> web.StreamResponse:
        key = self.request.query.get("key", "")
        found = await blocking(self.agent.file, key)
        if found is None:
            return self.render("missing.html", status=404)
        checked = await blocking(self.agent.check_receipt, key)
        return self.render("receipt.html", file=found, checked=checked)

    async def static(self) -> web.StreamResponse:
        name = self.request.path.rpartition("/")[2]
        if name not in ("page.css", "page.js"):
            return self.render("missing.html", status=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        body = (HERE / "static" / name).read_bytes()
        return web.Response(body=body, headers={**HEADERS, "Content-Type": f"{media}; charset=utf-8"})

    # -- actions (POST, CSRF-checked by ``handle``) ---------------------------------------------------------------

    async def unlock(self, form: dict[str, str]) -> web.StreamResponse:
        outcome = await blocking(self.agent.try_unlock, form.get("pin", ""))  # tried once, never again by itself
        if outcome["unlocked"]:
            return self.done(True, self.said("done_unlocked"))
        if outcome["tries_left"] and not outcome["blocked"]:
            return self.done(False, self.said("wrong_pin", n=outcome["tries_left"]))
        return self.done(False, self.said("failed", message=outcome["message"]))

    async def sync(self, form: dict[str, str]) -> web.StreamResponse:
        self.agent.request_sync(force=True)  # the clerk asked: no waiting for a retry
        return self.done(True, self.said("done_synced"))

    async def pause(self, form: dict[str, str]) -> web.StreamResponse:
        self.agent.pause()
        return self.done(True, self.said("done_paused"))

    async def resume(self, form: dict[str, str]) -> web.StreamResponse:
        self.agent.resume()
        return self.done(True, self.said("done_resumed"))

    async def resend(self, form: dict[str, str]) -> web.StreamResponse:
        try:
            copy = await blocking(self.agent.resend, form.get("key", ""))
        except Exception as exc:  # agent.resend.CannotResend, or the file system's trouble: said on the page
            return self.done(False, self.said("failed", message=str(exc)))
        return self.done(True, self.said("done_resent", name=copy["name"]))

    async def preview(self, form: dict[str, str]) -> web.StreamResponse:
        """A check of what an operation would do (核对), written for the agent to send; its answer shows on the page.
        A mistake is said beside the form, which keeps what the clerk typed; nothing is written then."""
        asked = {name: form.get(name, "") for name in PREVIEW_FIELDS}
        try:
            outcome = await blocking(self.agent.preview, **asked)
        except Exception as exc:  # the file system's trouble (a full disk): said on the page
            return self.done(False, self.said("failed", message=str(exc)))
        if "problems" in outcome:
            return await self.index(400, asked=asked, problems=outcome["problems"])
        said = self.said("done_preview_same" if outcome["same"] else "done_preview", name=outcome["name"])
        return self.done(True, said, preview=outcome["ref"])


def as_excel_shows(cell: str) -> str:
    """A cell as Excel shows it: ``="0012"`` (kept as text, leading zeros and all) and ``'=SUM(1)`` (a formula
    neutralised) show as ``0012`` and ``=SUM(1)``."""
    if len(cell) >= 3 and cell.startswith('="') and cell.endswith('"'):
        return cell[2:-1].replace('""', '"')
    return cell[1:] if cell.startswith("'") else cell


def _read_table(path: Path) -> tuple[list[str], list[list[str]], bool]:
    """The first rows of a CSV the agent wrote (UTF-8 with BOM), as Excel would show them."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = [[as_excel_shows(cell) for cell in row] for _, row in zip(range(SHOWN_ROWS), reader, strict=False)]
        more = next(reader, None) is not None
    return header, rows, more


Action = Callable[[Page, dict[str, str]], Awaitable[web.StreamResponse]]
READS: dict[str, Callable[[Page], Awaitable[web.StreamResponse]]] = {
    "/page/": Page.index,
    "/page/live": Page.live,
    "/page/forms": Page.forms,
    "/page/form": Page.form,
    "/page/file": Page.view,
    "/page/raw": Page.raw,
    "/page/receipt": Page.receipt,
    "/page/static/page.css": Page.static,
    "/page/static/page.js": Page.static,
}
ACTIONS: dict[str, Action] = {
    "/page/unlock": Page.unlock,
    "/page/sync": Page.sync,
    "/page/pause": Page.pause,
    "/page/resume": Page.resume,
    "/page/resend": Page.resend,
    "/page/preview": Page.preview,
}


def _refused(status: int, key: str) -> web.Response:
    lang = language()
    text = WORDS[key][1 if lang == "en" else 0]
    return web.Response(text=text, status=status, content_type="text/plain", headers=HEADERS)


async def handle(request: web.Request, agent: PageFacade, token: str, logins: access.Logins) -> web.StreamResponse:
    if not access.host_allowed(request):
        return web.Response(status=421, text="misdirected request", headers=HEADERS)
    path = request.path
    if path == access.PREFIX:
        return web.Response(status=308, headers={"Location": f"{access.PREFIX}/"})
    if path == f"{access.PREFIX}/login":
        return access.log_in(request, token, logins) or _refused(403, "forbidden")
    if not access.signed_in(request, token):
        return _refused(403, "forbidden")
    page = Page(request, agent, token)
    if request.method == "POST" and path in ACTIONS:
        form = {name: str(value) for name, value in (await request.post()).items()}
        if not access.post_allowed(request, token, form.get("csrf", "")):
            return _refused(403, "bad_csrf")
        return await ACTIONS[path](page, form)
    if request.method in ("GET", "HEAD") and path in READS:
        return await READS[path](page)
    if path in ACTIONS or path in READS:
        return web.Response(status=405, headers=HEADERS)
    return page.render("missing.html", status=404)
