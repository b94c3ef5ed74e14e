"""Merge fields and tracked links in a campaign body.

The body is stored once on the campaign and rendered per fan at claim time (not at
materialisation): materialising a million rows then copies no text, and each row gets the exact
text sent (and its segment count) only when it is about to leave.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

FIELD_RE = re.compile(r"\{([^{}]*)\}")
MERGE_FIELDS = ("first_name", "city")
LINK_PREFIX = "link:"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LINK_CODE_LEN = 6
LINK_TAG_LEN = 3
# The id used to size a tracked link in previews and estimates: as long as a real one gets.
PREVIEW_MESSAGE_ID = 62**5 - 1


def b62encode(number: int) -> str:
    if number < 0:
        raise ValueError("negative")
    digits = []
    while True:
        number, rem = divmod(number, 62)
        digits.append(B62[rem])
        if not number:
            return "".join(reversed(digits))


def b62decode(text: str) -> int:
    value = 0
    for ch in text:
        index = B62.find(ch)
        if index < 0:
            raise ValueError(f"not base62: {text!r}")
        value = value * 62 + index
    return value


def _tag(link_code: str, message_id: int) -> str:
    # A short HMAC so a recipient's code cannot be edited into another recipient's click.
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{link_code}.{message_id}".encode(), hashlib.sha256).digest()
    return b62encode(int.from_bytes(digest[:8], "big"))[-LINK_TAG_LEN:].rjust(LINK_TAG_LEN, "0")


def recipient_code(link_code: str, message_id: int) -> str:
    return f"{link_code}{b62encode(message_id)}{_tag(link_code, message_id)}"


def parse_recipient_code(code: str) -> tuple[str, int] | None:
    """(link code, message id) of a valid recipient code, None when malformed or forged."""
    if len(code) < LINK_CODE_LEN + 1 + LINK_TAG_LEN or len(code) > 40:
        return None
    link_code, middle, tag = code[:LINK_CODE_LEN], code[LINK_CODE_LEN:-LINK_TAG_LEN], code[-LINK_TAG_LEN:]
    try:
        message_id = b62decode(middle)
    except ValueError:
        return None
    if not hmac.compare_digest(tag, _tag(link_code, message_id)):
        return None
    return link_code, message_id


def link_url(link_code: str, message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}/l/{recipient_code(link_code, message_id)}"


def link_urls(body: str) -> list[str]:
    """The distinct {link:...} targets of a body, in order."""
    seen: dict[str, None] = {}
    for match in FIELD_RE.finditer(body):
        token = match.group(1).strip()
        if token.startswith(LINK_PREFIX):
            seen.setdefault(token[len(LINK_PREFIX) :].strip(), None)
    return list(seen)


def validate_body(body: str) -> None:
    """Raise ValidationError listing every unknown merge field or bad link in `body`."""
    errors = []
    if not body.strip():
        errors.append("The message is empty.")
    validate_url = URLValidator(schemes=["http", "https"])
    for match in FIELD_RE.finditer(body):
        token = match.group(1).strip()
        if token.startswith(LINK_PREFIX):
            url = token[len(LINK_PREFIX) :].strip()
            try:
                validate_url(url)
            except ValidationError:
                errors.append(f"{{{token}}}: the link needs a full http(s) URL, e.g. {{link:https://example.com}}.")
        elif token not in MERGE_FIELDS:
            errors.append(f"{{{token}}} is not a merge field; use {{first_name}}, {{city}} or {{link:https://...}}.")
    if "{" in FIELD_RE.sub("", body) or "}" in FIELD_RE.sub("", body):
        errors.append("Unbalanced { or }: merge fields are written {first_name}.")
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True)
class FanFields:
    first_name: str = ""
    city: str = ""


_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.!?;:])")
_MULTI_SPACE = re.compile(r"[ \t]{2,}")


def render_body(
    body: str, fan: FanFields, *, link_codes: dict[str, str], message_id: int, extra: dict[str, str] | None = None
) -> str:
    """The text one fan receives. An empty merge field disappears without leaving "Hi , ...".
    `extra`: per-fan fields a higher layer fills at claim (sending/claim.py FAN_VALUES: a drop's code)."""
    values = {"first_name": fan.first_name.strip(), "city": fan.city.strip()}
    if extra:
        values.update(extra)
    blanked = False

    def replace(match: re.Match) -> str:
        nonlocal blanked
        token = match.group(1).strip()
        if token.startswith(LINK_PREFIX):
            url = token[len(LINK_PREFIX) :].strip()
            code = link_codes.get(url)
            return link_url(code, message_id) if code else url
        value = values.get(token, "")
        if not value:
            blanked = True
        return value

    text = FIELD_RE.sub(replace, body)
    if blanked:
        text = _MULTI_SPACE.sub(" ", _SPACE_BEFORE_PUNCT.sub(r"\1", text))
    return text


def preview_link_codes(body: str) -> dict[str, str]:
    """Placeholder link codes for a preview before the campaign's links exist."""
    return {url: "x" * LINK_CODE_LEN for url in link_urls(body)}


@dataclass(frozen=True)
class Framing:
    """The talent's brand prefix and opt-out line around a campaign text.

    `monthly`: the line goes on a fan's first campaign text of the calendar month (UTC), which the
    sender tells from `Fan.last_sent_at` (only campaign sends move it). Estimates and previews
    always use the longer variant, so a cost shown is never below what is billed.
    """

    prefix: str = ""
    line: str = ""
    monthly: bool = False

    @classmethod
    def of(cls, talent) -> Framing:
        return cls(
            prefix=(talent.campaign_prefix or "").strip(),
            line=(talent.opt_out_line or "").strip(),
            monthly=talent.opt_out_line_when == "monthly",
        )

    @property
    def is_empty(self) -> bool:
        return not self.prefix and not self.line

    def wants_line(self, last_sent_at, now) -> bool:
        if not self.line:
            return False
        if not self.monthly or last_sent_at is None:
            return True
        return (last_sent_at.year, last_sent_at.month) != (now.year, now.month)

    def apply(self, text: str, *, with_line: bool = True) -> str:
        if self.prefix and not text.startswith(self.prefix):
            text = f"{self.prefix} {text}"
        if with_line and self.line:
            text = f"{text}\n{self.line}"
        return text


STOP_WORDS_RE = re.compile(r"\b(stop|unsubscribe|opt[ -]?out|cancel|quit|end)\b", re.IGNORECASE)


def framing_warnings(body: str, framing: Framing) -> list[str]:
    """What the composer warns about (never refuses): a text that names neither sender nor way out."""
    warnings = []
    has_name = bool(framing.prefix)
    has_stop = bool(framing.line) or bool(STOP_WORDS_RE.search(body))
    if not has_name and not has_stop:
        warnings.append(
            "This text has neither a brand prefix nor an opt-out line: carriers filter texts that do not say "
            "who sends them or how to stop. Set both in the campaign text settings, or write them in."
        )
    elif not has_stop:
        warnings.append("No opt-out wording: add 'Reply STOP to opt out' (or set an opt-out line for the talent).")
    return warnings
