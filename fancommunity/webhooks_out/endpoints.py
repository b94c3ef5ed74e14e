"""Webhook endpoint management (issue 16): the one place the console's pages and API v1 create,
change and delete endpoints, and the one rule for where an endpoint URL may point.

Why here and not in accounts/outbox.py: the URL rule is fancommunity/netguard.py's
`check_public_url` (one rule for every URL people type: webhooks, media fetches), and netguard is
top layer, which accounts may not import. So the dispatcher (accounts/webhook_delivery.py) takes
the check as a required argument, and its task passes `url_problem` from here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts import permissions
from accounts.audit import audit
from accounts.models import Talent
from accounts.outbox import CATALOGUE, WebhookEndpoint, endpoint_rotate_secret, new_secret
from fancommunity.netguard import UnsafeURL, check_public_url

EDITABLE = ("url", "description", "events", "is_active")


class EndpointError(ValueError):
    """An endpoint the service will not create or change; the message says why (form error / 400)."""


def url_problem(url: str) -> str:
    """What is wrong with an endpoint URL ('' = fine): netguard's rule (public https only; any local
    http(s) receiver in development, and the hosts in NETGUARD_ALLOWED_HOSTS)."""
    try:
        check_public_url(url)
    except UnsafeURL as exc:
        return str(exc)
    return ""


def default_events() -> list[str]:
    return [e.name for e in CATALOGUE.values() if not e.opt_in_only]


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in changes.items() if k in EDITABLE}
    if "url" in clean:
        clean["url"] = (clean["url"] or "").strip()
        problem = url_problem(clean["url"])
        if problem:
            raise EndpointError(problem)
    if "events" in clean:
        events = list(dict.fromkeys(clean["events"] or []))
        unknown = [e for e in events if e not in CATALOGUE]
        if unknown:
            raise EndpointError(f"Unknown event type {unknown[0]!r}.")
        if not events:
            raise EndpointError("Subscribe the endpoint to at least one event.")
        clean["events"] = events
    if "description" in clean:
        clean["description"] = (clean["description"] or "")[:200]
    return clean


def _require_owner(actor: Any, talent_id: int) -> None:
    # Owners only, as on the console's pages: an endpoint sends the fans' data out of the building.
    if not permissions.can(actor, "manage_team", talent_id):
        raise PermissionError("Only the talent's owners can manage webhook endpoints.")


def endpoint_create(
    *,
    talent: Talent,
    actor: Any,
    url: str,
    description: str = "",
    events: list[str] | None = None,
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint; returns it and its signing secret (shown to the creator once)."""
    _require_owner(actor, talent.pk)
    clean = _clean({"url": url, "description": description, "events": default_events() if events is None else events})
    clean["is_active"] = bool(is_active)
    secret = new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            talent=talent, secret=secret, created_by=actor if getattr(actor, "pk", None) else None, **clean
        )
        audit("webhook_endpoint.created", talent=talent, actor=actor, obj=endpoint, url=endpoint.url)
    return endpoint, secret


def endpoint_update(*, endpoint: WebhookEndpoint, actor: Any, changes: dict[str, Any]) -> WebhookEndpoint:
    """Change the URL, description, events or on/off. Turning a disabled endpoint on again clears
    its failure record: the 3-day clock starts afresh."""
    _require_owner(actor, endpoint.talent_id)
    clean = _clean(changes)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        for name, value in clean.items():
            setattr(locked, name, value)
        if clean.get("is_active") and not endpoint.is_active:
            locked.disabled_reason, locked.failing_since = "", None
        locked.save()
        audit("webhook_endpoint.changed", talent=locked.talent, actor=actor, obj=locked, fields=sorted(clean))
    return locked


def endpoint_delete(*, endpoint: WebhookEndpoint, actor: Any) -> None:
    """Delete it with its delivery log; events other endpoints still have to deliver stay."""
    _require_owner(actor, endpoint.talent_id)
    with transaction.atomic():
        audit("webhook_endpoint.deleted", talent=endpoint.talent, actor=actor, obj=endpoint, url=endpoint.url)
        endpoint.delete()


def endpoint_rotate(*, endpoint: WebhookEndpoint, actor: Any) -> str:
    """A new signing secret (returned once); the previous one keeps signing for a day."""
    _require_owner(actor, endpoint.talent_id)
    return endpoint_rotate_secret(endpoint=endpoint, actor=actor)
