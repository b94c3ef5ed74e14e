"""v1 shapes: Outgoing webhook endpoints and the event catalogue."""

from __future__ import annotations

from rest_framework import serializers

from accounts.outbox import CATALOGUE as WEBHOOK_CATALOGUE
from accounts.outbox import WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.CharField(max_length=500, help_text="An https:// address on the public internet.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(WEBHOOK_CATALOGUE)),
        required=False,
        min_length=1,
        help_text="Event types to receive (see /api/v1/webhook-event-types/). Default: every event except "
        "the opt-in ones (message.status).",
    )
    previous_secret_until = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="During a rotation, the previous secret also signs until then."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "url", "description", "events", "is_active", "disabled_reason", "failing_since",
            "previous_secret_until", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "disabled_reason", "failing_since", "previous_secret_until", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret: shown in this answer only.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret: shown in this answer only.")
    previous_secret_until = serializers.DateTimeField(help_text="The previous secret also signs until then.")


class WebhookEventTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    opt_in_only = serializers.BooleanField(help_text="Never subscribed by default (high volume).")
    sample = serializers.DictField(help_text="The whole body a receiver gets: type, timestamp and data.")
