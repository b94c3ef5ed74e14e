"""Logging that never carries a fan's phone number or message text (issue 17).

`RedactFilter` (fancommunity/logfilters.py's RedactSecrets) runs on the console handler in both formats: it renders each record's message (and
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

# One redaction filter for both formats: tokens (issue 15) and phones and texts (issue 17) live in
# fancommunity/logfilters.py; the names here are kept for the callers and tests that use them.
from fancommunity.logfilters import _STANDARD, PHONE, SENSITIVE_ATTRS, redact  # noqa: E402, F401
from fancommunity.logfilters import RedactSecrets as RedactFilter  # noqa: E402, F401


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
