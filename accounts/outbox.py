"""Outgoing webhooks (issue 16): endpoints, the outbox, signing, the event catalogue.

Why in accounts: every emitter must be able to import `webhook_emit` and write the event in the
same transaction as its change: fan.joined and fan.opted_out come from consent services, fan.erased
from privacy, message.received from conversations, campaign.finished from sending, message.status
from the status webhook. accounts is the one layer all of them sit on. Delivery is in
accounts/webhook_delivery.py; console pages, tasks, endpoint management and the URL rule (netguard,
which is top layer: so the dispatcher is handed the check by its task) in fancommunity/webhooks_out/.

The outbox has two tables: one WebhookEvent per change (only when an active endpoint of the talent
subscribes to its type: no endpoint, no row, so a million-text blast writes no message.status rows
for nobody) and one WebhookDelivery per (event, endpoint), which the dispatcher claims in batches.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from accounts.audit import audit
from accounts.integration_models import SECRET_PREFIX, WebhookDelivery, WebhookEndpoint, WebhookEvent, sign

# Standard Webhooks' suggested schedule, stretched to 3 days: then the delivery is given up.
RETRY_DELAYS = [
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
]
RETRY_STEADY = dt.timedelta(hours=10)  # after the list, every 10 h ...
RETRY_FOR = dt.timedelta(days=3)  # ... until 3 days after the event
DISABLE_AFTER = dt.timedelta(days=3)  # an endpoint failing this long in a row is disabled
ROTATION_OVERLAP = dt.timedelta(hours=24)  # the previous secret still signs this long after a rotation
DELIVER_TASK = "fancommunity.webhooks_out.tasks.deliver_webhooks"
BULK_CHUNK = 1000  # events per bulk insert when many fans change at once (emit_fans_joined)


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    sample: dict
    opt_in_only: bool = False  # never subscribed by default (volume)
    emitted: bool = True  # False: in the catalogue, not sent yet


CATALOGUE: dict[str, EventType] = {
    e.name: e
    for e in [
        EventType(
            "fan.joined",
            "A fan completed signup (web form, API, or an import made them active).",
            {"fan": {"id": 123, "status": "active", "source": "web", "joined_at": "2026-11-30T18:02:11Z"}},
        ),
        EventType(
            "fan.opted_out",
            "A fan withdrew messaging consent (STOP, their data page, the carrier, the team).",
            {
                "fan": {
                    "id": 123,
                    "status": "opted_out",
                    "method": "sms_keyword",
                    "opted_out_at": "2026-11-30T18:05:00Z",
                }
            },
        ),
        EventType(
            "fan.erased",
            "A fan's personal data was erased. Delete what you hold about fan id; nothing else is sent.",
            {"fan": {"id": 123}},
        ),
        EventType(
            "message.received",
            "A fan's text reached the team's inbox (keywords such as STOP are not sent here).",
            {"message": {"id": 987, "fan_id": 123, "received_at": "2026-11-30T18:07:42Z", "body": "Loved the show!"}},
        ),
        EventType(
            "campaign.finished",
            "A campaign finished sending: every recipient's text has left or was suppressed.",
            {
                "campaign": {
                    "id": 45,
                    "name": "Tour dates",
                    "status": "completed",
                    "finished_at": "2026-11-30T20:00:00Z",
                }
            },
        ),
        EventType(
            "message.status",
            "A sent text moved on (sent, delivered, undelivered, failed). Opt-in: a blast makes millions.",
            {"message": {"id": 555, "campaign_id": 45, "fan_id": 123, "status": "delivered", "error_code": ""}},
            opt_in_only=True,
        ),
        EventType(
            "conversation.assigned",
            "A conversation was assigned to a team member: by hand (console or API), by round-robin or by a "
            "member's reply. Emitted by messaging/conversations/assignment.py in the assignment's transaction; "
            "assigned_by is null for round-robin.",
            {
                "conversation": {
                    "id": 7,
                    "fan_id": 123,
                    "assignee": {"id": 3, "name": "ada_agent"},
                    "assigned_at": "2026-11-30T18:10:00Z",
                    "assigned_by": 5,
                    "how": "manual",
                }
            },
        ),
    ]
}
PING = "webhook.test"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


# --- models ------------------------------------------------------------------------------------
def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


# --- emitting ----------------------------------------------------------------------------------
def webhook_emit(*, talent_id: int, type: str, data: dict, fan_id: int | None = None) -> WebhookEvent | None:
    """Write an event to the outbox for every active endpoint of the talent subscribed to `type`.

    Call it inside the transaction of the change: the event commits (or rolls back) with it. The
    dispatcher is kicked on commit; the per-minute sweeper catches anything a lost kick left.
    """
    endpoints = _subscribers(talent_id, type)
    if not endpoints:
        return None
    return _enqueue(talent_id, type, data, fan_id, endpoints)


def _subscribers(talent_id: int, type: str) -> list[int]:
    """The ids of the talent's active endpoints subscribed to `type`.

    One plain statement, not a queryset: every fan.opted_out asks it, and a STOP is answered inside
    the webhook's request, where compiling the ORM query was a twentieth of the STOP's CPU."""
    sql, params = endpoints_sql(talent_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return subscribers_of(cursor.fetchall(), type)


def endpoints_sql(talent_id: int) -> tuple[str, list]:
    """The talent's active endpoints as rows of (id, events), in id order, for `subscribers_of`.
    The webhook's STOP folds it into its first statement (messaging/conversations/stop.py)."""
    sql = f"SELECT id, events FROM {WebhookEndpoint._meta.db_table} WHERE talent_id = %s AND is_active ORDER BY id"  # noqa: S608 - table name
    return sql, [talent_id]


def subscribers_of(rows: Iterable[Sequence], type: str) -> list[int]:
    """The ids among `endpoints_sql`'s rows of the endpoints subscribed to `type`."""
    if type not in CATALOGUE:
        raise ValueError(f"Unknown webhook event type {type!r}")
    # The JSON column comes back as text (SQLite, and psycopg as Django sets it up) or decoded.
    return [pk for pk, value in rows if type in ((json.loads(value) if isinstance(value, str) else value) or [])]


def _enqueue(talent_id: int, type: str, data: dict, fan_id: int | None, endpoints: list[int]) -> WebhookEvent:
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            talent_id=talent_id, event_id="msg_" + secrets.token_hex(12), type=type, fan_id=fan_id, data=data
        )
        WebhookDelivery.objects.bulk_create([WebhookDelivery(endpoint_id=pk, event=event) for pk in endpoints])
    kick_on_commit(endpoints)
    return event


def emit_fans_joined(*, talent_id: int, fan_ids: Iterable[int]) -> int:
    """fan.joined for many fans at once (a bulk import): one event per fan, as a signup makes, but
    written in chunks of bulk inserts, and one dispatcher kick per endpoint, not per fan. Only fans
    of the talent that are active now get one. Call it in the import's transaction, with the ids
    of the fans the batch created or completed (pending -> active); returns the events written.
    No subscribed endpoint: nothing is read or written."""
    from accounts.models import Fan

    endpoints = _subscribers(talent_id, "fan.joined")
    if not endpoints:
        return 0
    written = 0
    ids = list(fan_ids)
    with transaction.atomic():
        for start in range(0, len(ids), BULK_CHUNK):
            fans = Fan.objects.filter(
                pk__in=ids[start : start + BULK_CHUNK], talent_id=talent_id, status=Fan.Status.ACTIVE
            ).only("pk", "status", "source", "joined_at")
            events = WebhookEvent.objects.bulk_create(
                [
                    WebhookEvent(
                        talent_id=talent_id,
                        event_id="msg_" + secrets.token_hex(12),
                        type="fan.joined",
                        fan_id=fan.pk,
                        data=fan_data(fan, source=fan.source, joined_at=iso(fan.joined_at)),
                    )
                    for fan in fans
                ]
            )
            WebhookDelivery.objects.bulk_create(
                [WebhookDelivery(endpoint_id=pk, event_id=event.pk) for event in events for pk in endpoints]
            )
            written += len(events)
    for endpoint_id in endpoints:
        transaction.on_commit(functools.partial(kick, endpoint_id))
    return written


def webhook_ping(*, endpoint: WebhookEndpoint) -> WebhookEvent:
    """A test event to one endpoint, whatever it subscribes to (the console's "send a test ping")."""
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            talent_id=endpoint.talent_id,
            event_id="msg_" + secrets.token_hex(12),
            type=PING,
            data={"endpoint": {"id": endpoint.pk}, "message": "A test ping from fancommunity."},
        )
        WebhookDelivery.objects.create(endpoint=endpoint, event=event)
    transaction.on_commit(lambda: kick(endpoint.pk))
    return event


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Any) -> str:
    """A new secret; the old one keeps signing for ROTATION_OVERLAP so receivers switch without a gap."""
    secret = new_secret()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            secret=secret, previous_secret=endpoint.secret, previous_secret_until=timezone.now() + ROTATION_OVERLAP
        )
        audit("webhook_endpoint.secret_rotated", talent=endpoint.talent, actor=actor, obj=endpoint)
    endpoint.refresh_from_db()
    return secret


def kick(endpoint_id: int) -> None:
    """Start the endpoint's dispatcher, at most once a second per process (the claim keeps the rest safe)."""
    if not getattr(settings, "WEBHOOKS_KICK", True):
        return
    if cache.add(f"webhook-kick:{endpoint_id}", 1, timeout=1):
        from django_q.tasks import async_task

        async_task(DELIVER_TASK, endpoint_id, group=f"webhooks-{endpoint_id}")


def events_scrub_fan(*, fan_id: int) -> int:
    """Erasure: every stored event about the fan keeps its id and type, and nothing else about them."""
    return WebhookEvent.objects.filter(fan_id=fan_id).update(data={"fan": {"id": fan_id}})


# --- payloads (the emitters call these, so each event's data has one shape) ---------------------
def fan_data(fan: Any, **extra: Any) -> dict:
    if fan.status == "erased":
        return {"fan": {"id": fan.pk}}
    return {"fan": {"id": fan.pk, "status": fan.status, **extra}}


def emit_fan(fan: Any, type: str, **extra: Any) -> WebhookEvent | None:
    return webhook_emit(talent_id=fan.talent_id, type=type, data=fan_data(fan, **extra), fan_id=fan.pk)


def fan_event(
    fan: Any, type: str, *, endpoints: list[int] | None = None, **extra: Any
) -> tuple[WebhookEvent | None, list[int]]:
    """What `emit_fan` writes, not yet saved: the event (None when no active endpoint of the talent
    subscribes to `type`) and the endpoints to deliver it to, one WebhookDelivery each. For a caller
    that writes them in a statement of its own (the webhook's STOP, messaging/conversations/stop.py);
    it calls `kick_on_commit(endpoints)` in the same transaction. `endpoints`: the subscribers,
    when the caller read them already (`subscribers_of`)."""
    if endpoints is None:
        endpoints = _subscribers(fan.talent_id, type)
    if not endpoints:
        return None, []
    event = WebhookEvent(
        talent_id=fan.talent_id,
        event_id="msg_" + secrets.token_hex(12),
        type=type,
        fan_id=fan.pk,
        data=fan_data(fan, **extra),
    )
    return event, endpoints


def kick_on_commit(endpoints: list[int]) -> None:
    for endpoint_id in endpoints:
        transaction.on_commit(functools.partial(kick, endpoint_id))


def conversation_assigned_data(conversation: Any, assignee: Any, at: dt.datetime) -> dict:
    """conversation.assigned: ids and the member's user name only; nothing of the fan but their id.
    Call: webhook_emit(talent_id=c.talent_id, type="conversation.assigned",
    data=conversation_assigned_data(c, assignee, now), fan_id=c.fan_id) in the assign's transaction."""
    who = {"id": assignee.pk, "name": assignee.get_username()} if assignee is not None else None
    return {
        "conversation": {"id": conversation.pk, "fan_id": conversation.fan_id, "assignee": who, "assigned_at": iso(at)}
    }


# Re-exported: callers import the outbox models and the signature from here.
__all__ = [
    "SECRET_PREFIX",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "sign",
    "webhook_emit",
    "webhook_ping",
    "kick",
]
