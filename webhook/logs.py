"""Logging as JSON lines on stderr: one object per record, request records with their fields on top.

Every record becomes `{"time", "level", "logger", "message"}`, plus `error` with the traceback when
there is one; the app logs each request with `extra={"fields": {...}}` (uid, kind, namespace, name,
operation, decision, duration), which are added at the top level. A line is at most
`limits.MAX_LOG_LINE` characters whatever a request carried: fields are cut (`limits.bounded`), a
traceback keeps its end (where the error is), and a line still too long keeps only its first fields.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

from webhook.admission import limits

# The fields a line too long is cut down to.
_CORE = ("time", "level", "logger", "message", "endpoint", "decision", "uid", "kind", "namespace", "name",
         "operation", "durationMs")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        entry["message"] = limits.bounded(record.getMessage())
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(limits.bounded(fields))
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            half = limits.MAX_LOG_LINE // 4
            entry["error"] = trace if len(trace) <= 2 * half else f"{trace[:half]}\n…\n{trace[-half:]}"
        line = json.dumps(entry, separators=(",", ":"), default=str)
        if len(line) > limits.MAX_LOG_LINE:
            core = {k: limits.bounded(v, 0) for k, v in entry.items() if k in _CORE}
            line = json.dumps({**core, "truncated": len(line)}, separators=(",", ":"), default=str)
        return line


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
