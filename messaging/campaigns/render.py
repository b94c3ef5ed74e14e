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


def render_body(body: str, fan: FanFields, *, link_codes: dict[str, str], message_id: int) -> str:
    """The text one fan receives. An empty merge field disappears without leaving "Hi , ..."."""
    values = {"first_name": fan.first_name.strip(), "city": fan.city.strip()}
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
