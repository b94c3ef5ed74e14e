"""Logging that never carries a fan's phone number or message text (issue 17).

`RedactFilter` runs on the console handler in both formats: it renders each record's message (and
its traceback, where database errors quote the row: `Key (talent_id, phone)=(3, +1415...)`),
replaces every phone-shaped run of digits with `[phone]`, and drops the attributes a caller might
attach with `extra=` that hold a text (`body`, `text`, ...) or a number (`to`, `from_number`, ...).
The code never logs a message body on purpose; the filter is the net under that rule, so a
traceback or a third-party library's line cannot leak one either.

`JsonFormatter` (LOG_FORMAT=json) writes one JSON object a line: time, level, logger, message,
process, and the exception text, plus any other `extra=` fields that survive the filter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

PHONE = re.compile(
    r"\+\d[\d\s().-]{6,18}\d"  # +1 415 555 2671, +14155552671
    r"|(?<![\w.])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d)"  # (415) 555-2671, 415.555.2671
    r"|(?<!\d)\d{10,15}(?!\d)"  # 4155552671, 14155552671, %2B14155552671 (url-encoded)
)
# Attributes (from `extra=`) that hold a message text or a number: removed from the record.
SENSITIVE_ATTRS = frozenset(
    {"body", "text", "message_body", "sms_body", "to", "to_number", "from_number", "phone", "params", "sql"}
)
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    return PHONE.sub("[phone]", text)


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the template, never the arguments
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name in SENSITIVE_ATTRS & set(vars(record)):
            delattr(record, name)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in SENSITIVE_ATTRS and not name.startswith("_"):
                entry[name] = value if isinstance(value, str | int | float | bool) or value is None else repr(value)
        return json.dumps(entry, ensure_ascii=False)
