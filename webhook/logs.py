"""Logging as JSON lines on stderr: one object per record, request records with their fields on top.

Every record becomes `{"time", "level", "logger", "message"}`, plus `error` with the traceback when
there is one; the app logs each request with `extra={"fields": {...}}` (uid, kind, namespace, name,
operation, decision, duration), which are added at the top level.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        entry["message"] = record.getMessage()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"), default=str)


def setup(level: int = logging.INFO) -> None:
    """Send every logger's records to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# For gunicorn's `logconfig_dict`: its error log through the same formatter.
GUNICORN_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["error_console"]},
    "formatters": {"json": {"()": "webhook.logs.JsonLines"}},
    "handlers": {
        "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        # The app logs every request itself, with what it decided; no access log besides.
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
