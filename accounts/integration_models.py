"""Models of the API tokens, idempotency keys and outgoing-webhook outbox (issue 16).

Apart from accounts/models.py so that module can register them without an import cycle: this file
imports only Django (its services are accounts/api_tokens.py, accounts/outbox.py and
accounts/webhook_delivery.py, which import these).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

SECRET_PREFIX = "whsec_"  # Standard Webhooks secrets
TOKEN_PREFIX = "fc_live_"  # API tokens: recognisable in logs and by secret scanners


class ApiToken(models.Model):
    talent = models.ForeignKey("accounts.Talent", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'Ticketing system'.")
    # The first characters after the prefix, shown in lists so a team can tell tokens apart.
    hint = models.CharField(max_length=16, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)  # sha256 hex of the whole token
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        app_label = "accounts"
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}{self.hint}…)"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class IdempotencyKey(models.Model):
    """A create or schedule already answered: the same key and body get the same response again."""

    talent = models.ForeignKey("accounts.Talent", on_delete=models.CASCADE, related_name="+")
    # Whose key: "token:<id>" or "user:<id>" (two clients may pick the same key by chance).
    principal = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)  # sha256 of method, path and body
    # The fan a stored answer describes (POST /fans/), so erasure can delete it (privacy/services.py).
    fan_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        app_label = "accounts"
        constraints = [
            models.UniqueConstraint(fields=["talent", "principal", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.key}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class WebhookEndpoint(models.Model):
    talent = models.ForeignKey("accounts.Talent", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500, help_text="An HTTPS address of your server that accepts POSTs.")
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types this endpoint receives.")
    secret = models.CharField(max_length=80, editable=False)
    # During a rotation both secrets sign each message, so receivers can switch without a gap.
    previous_secret = models.CharField(max_length=80, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True, editable=False)
    # Set at the first failure after a success, cleared by a success: DISABLE_AFTER of it disables.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "accounts"
        ordering = ["talent_id", "pk"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now: dt.datetime | None = None) -> list[str]:
        now = now or timezone.now()
        keys = [self.secret]
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > now:
            keys.append(self.previous_secret)
        return keys

    def signature_header(self, msg_id: str, timestamp: int, body: bytes) -> str:
        return " ".join(sign(key, msg_id, timestamp, body) for key in self.signing_secrets())


class WebhookEvent(models.Model):
    talent = models.ForeignKey("accounts.Talent", on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=40, unique=True)  # the webhook-id: receivers dedup on it
    type = models.CharField(max_length=40)
    # The fan the event is about, so erasure can find and empty its events (privacy/services.py).
    fan_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "accounts"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

    def body(self) -> bytes:
        stamp = self.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        envelope = {"type": self.type, "timestamp": stamp, "data": self.data}
        return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"  # new, or failed and waiting for its next retry
        DELIVERED = "delivered", "Delivered"  # the endpoint answered 2xx
        FAILED = "failed", "Given up"  # still failing 3 days after the event, or the endpoint was disabled

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the dispatcher may (re)try: a claim moves it a lease ahead, so a dead worker's rows come back.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "accounts"
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_unique")]
        indexes = [
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint}"
