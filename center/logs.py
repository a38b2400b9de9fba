"""The running center's logs: one JSON object a line on standard error (python-json-logger), access log included.

Every line has ``time``, ``level``, ``logger``, ``pid`` and ``message``. An access line (``"logger":
"center.access"``) also has the client's address, the method, the path with its query, the route template, the
status, the refusal code when the request was refused, the duration in milliseconds and the answer's size. Headers
and bodies are never logged: they carry signatures, device credentials and bearer tokens; nor is the key passphrase.
With ``serve --workers N`` gunicorn's own lines (workers booting and exiting) come in the same form.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, Request, StreamResponse

ACCESS_LOGGER = "center.access"
REFUSAL_CODE = web.RequestKey("refusal_code", str)  # the code of the refusal the request was answered with


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a running center (gunicorn takes it as its ``logconfig_dict``)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
                "datefmt": "%Y-%m-%dT%H:%M:%S%z",
                "json_ensure_ascii": False,
            }
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "propagate": False},  # the access log is center.access
        },
    }


def configure() -> None:
    """Send this process's logs, as JSON lines, to standard error."""
    logging.config.dictConfig(logging_config())


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp's access log hook: one record per request, its fields as the record's extras."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        resource = request.match_info.route.resource if isinstance(request, Request) else None
        self.logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status,
            extra={
                "remote": request.remote,
                "method": request.method,
                "path": request.path_qs,
                "route": resource.canonical if resource is not None else None,
                "status": response.status,
                "code": request.get(REFUSAL_CODE),
                "duration_ms": round(time * 1000, 2),
                "bytes": response.body_length,
            },
        )


def access_logger() -> logging.Logger:
    return logging.getLogger(ACCESS_LOGGER)
