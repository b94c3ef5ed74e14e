"""Keep credentials and phone numbers out of the logs (issue 15).

A fan's signup and data links, team invites and password-reset links are credentials: whoever
reads a log line with one can act as its owner until it expires. Phone numbers are personal data
that erasure cannot reach once they sit in a log file. `RedactSecrets` rewrites every record that
reaches our handlers (settings.LOGGING: the console handler and runserver's access log):

- `?t=` / `&token=` query values         -> `?t=[redacted]`
- `/team/invite/<token>/`, `/reset/<uid>/<token>/` paths -> the token part `[redacted]`
- phone numbers however written (`+14155550101`, `(415) 555-2671`, URL-encoded `%2B1415...`) -> `[phone]`
- `extra=` attributes that hold a text or a number (`body`, `to`, ...) are dropped

It runs once per record that is actually emitted (after level filtering), so a quiet log costs nothing.
"""

from __future__ import annotations

import logging
import re

_QUERY_TOKEN = re.compile(r"([?&](?:t|token|code)=)[^&\s\"'#]+")
_PATH_TOKENS = (
    re.compile(r"(/team/invite/)[^/\s\"'?]+"),
    re.compile(r"(/reset/[^/\s\"'?]+/)[^/\s\"'?]+"),
)
# Phone-shaped runs, in every way one is written (issue 17's filter, fancommunity/logs.py, merged
# here so one filter does both jobs): +1 415 555 2671, (415) 555-2671, 4155552671, %2B1415...
PHONE = re.compile(
    r"(?:\+|%2[bB])\d[\d\s().-]{6,18}\d"
    r"|(?<![\w.])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d)"
    r"|(?<!\d)\d{10,15}(?!\d)"
)
# Attributes (from `extra=`) that hold a message text or a number: removed from the record.
SENSITIVE_ATTRS = frozenset(
    {"body", "text", "message_body", "sms_body", "to", "to_number", "from_number", "phone", "params", "sql"}
)
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    if "=" in text:
        text = _QUERY_TOKEN.sub(r"\1[redacted]", text)
    if "/" in text:
        for pattern in _PATH_TOKENS:
            text = pattern.sub(r"\1[redacted]", text)
    return PHONE.sub("[phone]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Tracebacks quote local values (a URL, a number) in their exception messages.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name in SENSITIVE_ATTRS & set(vars(record)):
            delattr(record, name)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True
