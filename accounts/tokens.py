"""Signed, expiring links, on the model of django.contrib.auth.tokens.PasswordResetTokenGenerator.

A token is an HMAC (keyed by SECRET_KEY) over who it is for, when it was made, and the state it
may change. The state includes the fan's link_nonce, which every successful signup and every use
of a self-service link rotates: a used link dies, an old link cannot be replayed, and a link for
one number cannot be edited into a link for another (the number is inside the HMAC).

Join token:          <phone digits, base36>-<timestamp, base36>-<hmac>   (carries the phone)
Self-service token:  <fan id, base36>-<timestamp, base36>-<hmac>
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import base36_to_int, int_to_base36

from accounts.models import Fan, Talent

_MAX_TOKEN_LENGTH = 200


def _now() -> int:
    return int(time.time())


def _hmac(salt: str, value: str) -> str:
    # Every other character of a SHA-256 hex digest, like Django's reset tokens: 32 chars is plenty.
    return salted_hmac(salt, value, secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()[::2]


def _split(token: str) -> tuple[int, int, str] | None:
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


@dataclass(frozen=True)
class JoinClaim:
    phone: str  # E.164


class JoinTokenGenerator:
    """Signup links: /join/<talent>/?t=TOKEN, proving the holder received a text at that number."""

    key_salt = "fancommunity.accounts.tokens.JoinTokenGenerator"

    def make_token(self, *, talent: Talent, phone: str, timestamp: int | None = None, fan: Fan | None = None) -> str:
        """`fan`: the number's fan row when the caller has just read it (a burst's join links), so
        the token needs no query of its own; it must be the row of this talent and phone."""
        if not phone.startswith("+") or not phone[1:].isdigit():
            raise ValueError("phone must be E.164")
        if fan is not None and (fan.talent_id != talent.pk or str(fan.phone) != phone):
            raise ValueError("fan is not this number's fan")
        ts = _now() if timestamp is None else timestamp
        subject = int(phone[1:])
        return f"{int_to_base36(subject)}-{int_to_base36(ts)}-{self._digest(talent, phone, ts, fan)}"

    def check_token(self, *, talent: Talent, token: str) -> JoinClaim | None:
        """The phone the token was issued for, or None if it is tampered, expired or used."""
        parsed = _split(token)
        if parsed is None:
            return None
        subject, ts, digest = parsed
        phone = f"+{subject}"
        if not constant_time_compare(self._digest(talent, phone, ts), digest):
            return None
        age = _now() - ts
        if age < -60 or age > settings.JOIN_LINK_MAX_AGE:  # small allowance for clock skew
            return None
        return JoinClaim(phone=phone)

    def _digest(self, talent: Talent, phone: str, ts: int, fan: Fan | None = None) -> str:
        if fan is None:
            fan = Fan.objects.filter(talent=talent, phone=phone).only("link_nonce", "status").first()
        state = f"{fan.link_nonce}:{fan.status}" if fan else "new"
        return _hmac(self.key_salt, f"{talent.pk}:{phone}:{ts}:{state}")


class SelfServiceTokenGenerator:
    """Links to /me/?t=TOKEN (the fan's data page). Used once: the visit rotates the nonce."""

    key_salt = "fancommunity.accounts.tokens.SelfServiceTokenGenerator"

    def make_token(self, *, fan: Fan, timestamp: int | None = None) -> str:
        ts = _now() if timestamp is None else timestamp
        return f"{int_to_base36(fan.pk)}-{int_to_base36(ts)}-{self._digest(fan, ts)}"

    def check_token(self, token: str) -> Fan | None:
        parsed = _split(token)
        if parsed is None:
            return None
        fan_id, ts, digest = parsed
        fan = Fan.objects.select_related("talent").filter(pk=fan_id).first()
        if fan is None or fan.status == Fan.Status.ERASED or not fan.talent.is_active:
            return None
        if not constant_time_compare(self._digest(fan, ts), digest):
            return None
        age = _now() - ts
        if age < -60 or age > settings.SELF_SERVICE_LINK_MAX_AGE:
            return None
        return fan

    def _digest(self, fan: Fan, ts: int) -> str:
        return _hmac(self.key_salt, f"{fan.pk}:{fan.talent_id}:{fan.phone}:{ts}:{fan.link_nonce}")


join_tokens = JoinTokenGenerator()
self_service_tokens = SelfServiceTokenGenerator()
