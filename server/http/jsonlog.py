"""Structured logs: one JSON object per line, for people's grep and machines' ingest."""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
from typing import Any

import orjson

# Attributes every LogRecord has; anything else passed via ``extra`` is a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Lines are encoded by orjson (every request writes one; the standard library's encoder
# cost more), anything but JSON's own types written as ``str()`` gives it,
# as the standard library's encoder does with ``default=str`` ...
_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS)
# ... which still writes what orjson refuses (integers beyond 64 bits, strings with lone
# surrogates such as undecodable file names): a log line is never lost to its contents.
_FALLBACK = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
        try:
            return orjson.dumps(line, default=str, option=_OPTIONS).decode()
        except TypeError:  # orjson.JSONEncodeError
            return _FALLBACK.encode(line)


def dict_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` that sends everything, gunicorn's own loggers too,
    to stderr as JSON lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            # simattest.access already logs each request once, without the query string.
            "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
    }


def configure(level: str = "INFO") -> None:
    """Send every log record to stderr as JSON (the service's processes call this)."""
    logging.config.dictConfig(dict_config(level))
    # Record attributes the JSON lines never show, which ``logging`` would otherwise
    # look up for every record (the logging HOWTO's "Optimization" section): the caller's
    # source file and line walk the stack, and every request writes an access line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
