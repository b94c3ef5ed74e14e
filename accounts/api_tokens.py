"""API tokens (issue 16): per-talent keys for the REST API v1, and the Idempotency-Key store.

A token is created by an owner in the console and shown once. Only its SHA-256 digest is kept:
a token is 32 random bytes, so a fast hash is as safe as a slow one (nothing to guess), and the
password hasher would cost tens of milliseconds on every request.

A token acts for ONE talent, with the authority of the owner who created it and never more: its
scopes narrow what that person's role allows, and if they leave the team (or lose the owner
role) the token stops working at once. It counts as its creator for the "second pair of eyes"
rule, so a token can never approve a campaign its creator, or the token itself, scheduled; the
API offers approval to people only (fancommunity/api_v1/campaigns.py). What a token may do is
asked in one place, accounts/actors.py (`require(Actor.api_token(token), scope, talent)`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from accounts import permissions
from accounts.audit import audit
from accounts.integration_models import TOKEN_PREFIX, ApiToken, IdempotencyKey
from accounts.models import Talent

# What a token may do, and the role capability each scope needs on top (accounts/permissions.py).
SCOPES: dict[str, str] = {
    "fans:read": "view",
    "fans:write": "edit_audience",
    "fans:erase": "edit_audience",
    "audience:read": "view",
    "audience:write": "edit_audience",
    "exports": "export",
    "campaigns:read": "view",
    "campaigns:write": "compose",
    "conversations:read": "view",
    "conversations:write": "reply",
    "webhooks:manage": "edit_talent",
}
# last_used_at is written at most this often: a busy script must not turn every GET into a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class TokenError(ValueError):
    """A token the service will not create or change (the console shows the message)."""


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *, talent: Talent, actor: Any, name: str, scopes: list[str], expires_at: dt.datetime | None
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the raw token, which is never stored nor shown again."""
    if not permissions.can(actor, "manage_team", talent.pk):
        raise TokenError("Only the talent's owners can create API tokens.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise TokenError(f"Unknown scope {unknown[0]!r}.")
    if not scopes:
        raise TokenError("Give the token at least one scope.")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("The expiry must be in the future.")
    secret = secrets.token_urlsafe(32)
    raw = TOKEN_PREFIX + secret
    with transaction.atomic():
        token = ApiToken.objects.create(
            talent=talent,
            name=name[:100],
            hint=secret[:6],
            digest=digest_of(raw),
            scopes=sorted(set(scopes)),
            created_by=actor,
            expires_at=expires_at,
        )
        audit("api_token.created", talent=talent, actor=actor, obj=token, scopes=token.scopes)
    return token, raw


def token_revoke(*, token: ApiToken, actor: Any) -> bool:
    if not permissions.can(actor, "manage_team", token.talent_id):
        raise TokenError("Only the talent's owners can revoke API tokens.")
    with transaction.atomic():
        moved = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if moved:
            audit("api_token.revoked", talent=token.talent, actor=actor, obj=token)
    token.refresh_from_db(fields=["revoked_at"])
    return bool(moved)


def idempotency_window() -> dt.timedelta:
    return dt.timedelta(hours=settings.API_V1_IDEMPOTENCY_HOURS)


def idempotency_keys_prune(*, now: dt.datetime | None = None, chunk: int = 10_000) -> int:
    """Delete the Idempotency-Keys older than their window (hourly task). In chunks by the
    created_at index, so a busy day's millions of keys never hold one long transaction.
    (A key past its window is ignored by the API even before this runs: see api_v1/core.idempotent.)"""
    cutoff = (now or timezone.now()) - idempotency_window()
    deleted = 0
    while True:
        ids = list(IdempotencyKey.objects.filter(created_at__lt=cutoff).order_by().values_list("pk", flat=True)[:chunk])
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]


def token_authenticate(raw: str) -> ApiToken | None:
    """The usable token for `raw`, or None. Touches last_used_at at most once a minute."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("talent", "created_by")
        .filter(digest=digest_of(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.is_usable or not token.talent.is_active or not token.created_by.is_active:
        return None
    if not permissions.can(token.created_by, "view", token.talent_id):
        return None  # its creator left the team: the token leaves with them
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        # A conditional UPDATE: concurrent requests of one script write once, nobody waits on a lock.
        ApiToken.objects.filter(pk=token.pk).filter(
            models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


__all__ = [
    "TOKEN_PREFIX",
    "SCOPES",
    "ApiToken",
    "IdempotencyKey",
    "TokenError",
    "token_create",
    "token_revoke",
    "token_authenticate",
    "digest_of",
    "idempotency_keys_prune",
    "idempotency_window",
]
