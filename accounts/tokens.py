"""Signed, expiring links, on the model of django.contrib.auth.tokens.PasswordResetTokenGenerator.

A token is an HMAC (keyed by SECRET_KEY) over who it is for, when it was made, and the state it
may change. The state includes the fan's link_nonce, which every successful signup and every use
of a self-service link rotates: a used link dies, an old link cannot be replayed, and a link for
one number cannot be edited into a link for another (the number is inside the HMAC).

Tokens are opaque (issue 15): 40 URL-safe characters that say nothing about the number or the fan.

    token = base64url( salt[6] | sealed[12] | tag[12] )
    sealed = (subject[8] | timestamp[4]) XOR HMAC-SHA256(enc_key, purpose | salt)[:12]
    tag    = HMAC-SHA256(mac_key, purpose | salt | sealed | state)[:12]

The subject is the phone's digits (join links: no fan row is needed to make one) or the fan's id
(self-service links). Each token has a fresh random salt, so the keystream never repeats and two
tokens for one number share nothing visible. Encrypt-then-MAC with HMAC as the PRF: only the
standard library, no custom primitive. Both keys are derived from SECRET_KEY.

Links made before issue 15 (`<subject b36>-<ts b36>-<hmac>`, the phone readable in base 36) keep
working until they expire (JOIN_LINK_MAX_AGE, SELF_SERVICE_LINK_MAX_AGE); nothing makes them any more.

Link placeholders: a text that carries a live link is stored with `{join_link}` or `{data_link}`
in its body, a signup code sealed as `{code:<token>}`, and rendered by `render_links()` when it is
sent, so no stored body, console page, export, archive or API answer ever holds a working credential.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import base36_to_int

from accounts.models import Fan, Talent
from accounts.phones import phone_text

_MAX_TOKEN_LENGTH = 200
TOKEN_LENGTH = 40  # characters: 30 bytes in base64url, no padding
_SALT, _SEALED, _TAG = 6, 12, 12

JOIN_LINK = "{join_link}"
DATA_LINK = "{data_link}"
CODE = "{code:"  # + a sealed signup code (TOKEN_LENGTH characters) + "}": see code_placeholder()
PLACEHOLDERS = (JOIN_LINK, DATA_LINK, CODE)
_CODE_PURPOSE = "fancommunity.accounts.tokens.phone_code"
_CODE_RE = re.compile(r"\{code:([A-Za-z0-9_-]{" + str(TOKEN_LENGTH) + r"})\}")


def _now() -> int:
    return int(time.time())


def _key(purpose: str, use: str) -> bytes:
    return _derived(purpose, use, settings.SECRET_KEY)


@functools.lru_cache(maxsize=64)
def _derived(purpose: str, use: str, secret: str) -> bytes:
    # Derived once per key, not twice a link (a quarter of the lane's cost a link under the
    # profiler); keyed by the secret too, so a rotated SECRET_KEY derives new keys.
    return salted_hmac(f"{purpose}.{use}", "key", secret=secret, algorithm="sha256").digest()


def _seal(purpose: str, subject: int, ts: int, state: str) -> str:
    salt = secrets.token_bytes(_SALT)
    pad = hmac.new(_key(purpose, "enc"), purpose.encode() + salt, hashlib.sha256).digest()[:_SEALED]
    plain = subject.to_bytes(8, "big") + (ts & 0xFFFFFFFF).to_bytes(4, "big")
    sealed = bytes(a ^ b for a, b in zip(plain, pad, strict=True))
    return base64.urlsafe_b64encode(salt + sealed + _tag(purpose, salt, sealed, state)).decode()


def _tag(purpose: str, salt: bytes, sealed: bytes, state: str) -> bytes:
    message = purpose.encode() + salt + sealed + state.encode()
    return hmac.new(_key(purpose, "mac"), message, hashlib.sha256).digest()[:_TAG]


def _open(purpose: str, token: str) -> tuple[int, int, bytes, bytes, bytes] | None:
    """(subject, timestamp, salt, sealed, tag) of a well-formed token; not yet authenticated."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) != _SALT + _SEALED + _TAG:  # b64decode skips characters outside the alphabet
        return None
    salt, sealed, tag = raw[:_SALT], raw[_SALT : _SALT + _SEALED], raw[_SALT + _SEALED :]
    pad = hmac.new(_key(purpose, "enc"), purpose.encode() + salt, hashlib.sha256).digest()[:_SEALED]
    plain = bytes(a ^ b for a, b in zip(sealed, pad, strict=True))
    return int.from_bytes(plain[:8], "big"), int.from_bytes(plain[8:], "big"), salt, sealed, tag


def _fresh(ts: int, max_age: int) -> bool:
    age = _now() - ts
    return -60 <= age <= max_age  # small allowance for clock skew


# --- before issue 15: readable subjects; checked (never made) until the last ones expire ------------
def _legacy_hmac(salt: str, value: str) -> str:
    return salted_hmac(salt, value, secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()[::2]


def _legacy_split(token: str) -> tuple[int, int, str] | None:
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    parts = token.split("-")
    if len(parts) != 3:
        return None
    subject_b36, ts_b36, digest = parts
    try:
        return base36_to_int(subject_b36), base36_to_int(ts_b36), digest
    except ValueError:
        return None


class LinkHolder(Protocol):
    """What a link is made for: a Fan row, or the priority lane's LinkFan (the same columns read
    without the phone field's parse; its phone is the E.164 text)."""

    @property
    def pk(self) -> int: ...
    @property
    def talent_id(self) -> int: ...
    @property
    def phone(self) -> object: ...
    @property
    def link_nonce(self) -> str: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class JoinClaim:
    phone: str  # E.164


class JoinTokenGenerator:
    """Signup links: /join/<talent>/?t=TOKEN, proving the holder received a text at that number."""

    key_salt = "fancommunity.accounts.tokens.JoinTokenGenerator"

    def make_token(
        self, *, talent: Talent, phone: str, timestamp: int | None = None, fan: LinkHolder | None = None
    ) -> str:
        """`fan`: the number's fan row when the caller has just read it (a burst's join links), so
        the token needs no query of its own; it must be the row of this talent and phone."""
        if not phone.startswith("+") or not phone[1:].isdigit() or len(phone) > 17:
            raise ValueError("phone must be E.164")
        if fan is not None and (fan.talent_id != talent.pk or phone_text(fan.phone) != phone):
            raise ValueError("fan is not this number's fan")
        ts = _now() if timestamp is None else timestamp
        return _seal(self.key_salt, int(phone[1:]), ts, self._state(talent, phone, fan))

    def check_token(self, *, talent: Talent, token: str) -> JoinClaim | None:
        """The phone the token was issued for, or None if it is tampered, expired or used."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        opened = _open(self.key_salt, token)
        if opened is not None:
            subject, ts, salt, sealed, tag = opened
            phone = f"+{subject}"
            expected = _tag(self.key_salt, salt, sealed, self._state(talent, phone))
            if not hmac.compare_digest(expected, tag) or not _fresh(ts, settings.JOIN_LINK_MAX_AGE):
                return None
            return JoinClaim(phone=phone)
        return self._check_legacy(talent, token)

    def _state(self, talent: Talent, phone: str, fan: LinkHolder | None = None) -> str:
        if fan is None:
            fan = Fan.objects.filter(talent=talent, phone=phone).only("link_nonce", "status").first()
        state = f"{fan.link_nonce}:{fan.status}" if fan else "new"
        return f"{talent.pk}:{phone}:{state}"

    def _check_legacy(self, talent: Talent, token: str) -> JoinClaim | None:
        parsed = _legacy_split(token)
        if parsed is None:
            return None
        subject, ts, digest = parsed
        phone = f"+{subject}"
        fan = Fan.objects.filter(talent=talent, phone=phone).only("link_nonce", "status").first()
        state = f"{fan.link_nonce}:{fan.status}" if fan else "new"
        expected = _legacy_hmac(self.key_salt, f"{talent.pk}:{phone}:{ts}:{state}")
        if not constant_time_compare(expected, digest) or not _fresh(ts, settings.JOIN_LINK_MAX_AGE):
            return None
        return JoinClaim(phone=phone)


class SelfServiceTokenGenerator:
    """Links to /me/?t=TOKEN (the fan's data page). Used once: the visit rotates the nonce."""

    key_salt = "fancommunity.accounts.tokens.SelfServiceTokenGenerator"

    def make_token(self, *, fan: LinkHolder, timestamp: int | None = None) -> str:
        ts = _now() if timestamp is None else timestamp
        return _seal(self.key_salt, fan.pk, ts, self._state(fan))

    def check_token(self, token: str) -> Fan | None:
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        opened = _open(self.key_salt, token)
        if opened is None:
            return self._check_legacy(token)
        fan_id, ts, salt, sealed, tag = opened
        fan = self._fan(fan_id)
        if fan is None or not hmac.compare_digest(_tag(self.key_salt, salt, sealed, self._state(fan)), tag):
            return None
        return fan if _fresh(ts, settings.SELF_SERVICE_LINK_MAX_AGE) else None

    def _fan(self, fan_id: int) -> Fan | None:
        if fan_id > 2**63 - 1:
            return None
        fan = Fan.objects.select_related("talent").filter(pk=fan_id).first()
        if fan is None or fan.status == Fan.Status.ERASED or not fan.talent.is_active:
            return None
        return fan

    def _state(self, fan: LinkHolder) -> str:
        return f"{fan.pk}:{fan.talent_id}:{phone_text(fan.phone)}:{fan.link_nonce}"

    def _check_legacy(self, token: str) -> Fan | None:
        parsed = _legacy_split(token)
        if parsed is None:
            return None
        fan_id, ts, digest = parsed
        fan = self._fan(fan_id)
        if fan is None:
            return None
        expected = _legacy_hmac(self.key_salt, f"{fan.pk}:{fan.talent_id}:{fan.phone}:{ts}:{fan.link_nonce}")
        if not constant_time_compare(expected, digest) or not _fresh(ts, settings.SELF_SERVICE_LINK_MAX_AGE):
            return None
        return fan


join_tokens = JoinTokenGenerator()
self_service_tokens = SelfServiceTokenGenerator()


# --- link placeholders: stored bodies hold these, the send path renders them --------------------
def join_url(talent: Talent, token: str) -> str:
    return settings.PUBLIC_BASE_URL + _join_path(talent.slug) + "?t=" + token


_JOIN_PATHS: dict[tuple, str] = {}


def _join_path(slug: str) -> str:
    """reverse() of the join page, once per talent: it cost more than the link's HMAC (a burst's
    lane makes 50 links a second). Keyed by everything reverse() reads, so a script prefix or
    URLconf of another request or test never gets a stale path."""
    key = (get_script_prefix(), get_urlconf(), settings.ROOT_URLCONF, slug)
    path = _JOIN_PATHS.get(key)
    if path is None:
        if len(_JOIN_PATHS) > 1024:
            _JOIN_PATHS.clear()
        path = _JOIN_PATHS[key] = reverse("accounts:join", args=[slug])
    return path


def data_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("accounts:me") + "?t=" + token


def has_links(body: str) -> bool:
    return "{" in body and any(p in body for p in PLACEHOLDERS)


def code_placeholder(talent: Talent, code: str) -> str:
    """A signup code as a stored body holds it: sealed like a token (encrypted, bound to the
    talent), so the console's Sent texts, exports and archives never show a code that proves a
    number; render_links() opens it as the text leaves. The code is 6 digits (leading zeros kept)."""
    if not (len(code) == 6 and code.isdigit()):
        raise ValueError("a signup code is 6 digits")
    return CODE + _seal(_CODE_PURPOSE, int(code), _now(), str(talent.pk)) + "}"


def _open_code(match: re.Match, talent: Talent) -> str:
    opened = _open(_CODE_PURPOSE, match.group(1))
    if opened is None:
        raise ValueError("not a sealed code")
    subject, _ts, salt, sealed, tag = opened
    if not hmac.compare_digest(_tag(_CODE_PURPOSE, salt, sealed, str(talent.pk)), tag):
        raise ValueError("a code sealed for another talent, or altered")
    return f"{subject:06d}"


def preview_links(body: str, *, talent: Talent) -> str:
    """The body as long as it will be when sent (tokens have one length): for SMS-parts counts."""
    if not has_links(body):
        return body
    dummy = "x" * TOKEN_LENGTH
    body = _CODE_RE.sub("0" * 6, body)
    return body.replace(JOIN_LINK, join_url(talent, dummy)).replace(DATA_LINK, data_url(dummy))


def render_links(body: str, *, talent: Talent, fan: LinkHolder | None) -> str:
    """The text as it leaves: each placeholder becomes a fresh link for this fan (a sealed code
    becomes its digits; a code needs no fan). Called at send time only; the result is handed to the
    provider and never saved."""
    if not has_links(body):
        return body
    if CODE in body:
        body = _CODE_RE.sub(lambda m: _open_code(m, talent), body)
        if CODE in body:
            raise ValueError("a code placeholder that is not a sealed code")
        if JOIN_LINK not in body and DATA_LINK not in body:
            return body
    # The number's text once (each str() of a PhoneNumberField validates it again: 4-5 times a link).
    phone = phone_text(fan.phone) if fan is not None else ""
    if fan is None or not phone:
        raise ValueError("a text with a link placeholder needs its fan")
    if JOIN_LINK in body:
        body = body.replace(JOIN_LINK, join_url(talent, join_tokens.make_token(talent=talent, phone=phone, fan=fan)))
    if DATA_LINK in body:
        body = body.replace(DATA_LINK, data_url(self_service_tokens.make_token(fan=fan)))
    return body
