"""Keep credentials and phone numbers out of the logs (issue 15).

A fan's signup and data links, team invites and password-reset links are credentials: whoever
reads a log line with one can act as its owner until it expires. Phone numbers are personal data
that erasure cannot reach once they sit in a log file. `RedactSecrets` rewrites every record that
reaches our handlers (settings.LOGGING: the console handler and runserver's access log):

- `?t=` / `&token=` query values         -> `?t=[redacted]`
- `/team/invite/<token>/`, `/reset/<uid>/<token>/` paths -> the token part `[redacted]`
- E.164 numbers (`+14155550101`, also URL-encoded `%2B1415...`) -> `+14*******01`

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
_PHONE = re.compile(r"(\+|%2[bB])(\d{2})(\d{3,11})(\d{2})(?!\d)")


def mask_phone(match: re.Match) -> str:
    plus, head, middle, tail = match.groups()
    return f"{plus}{head}{'*' * len(middle)}{tail}"


def redact(text: str) -> str:
    if "=" in text:
        text = _QUERY_TOKEN.sub(r"\1[redacted]", text)
    if "/" in text:
        for pattern in _PATH_TOKENS:
            text = pattern.sub(r"\1[redacted]", text)
    if "+" in text or "%2" in text:
        text = _PHONE.sub(mask_phone, text)
    return text


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
        return True
