"""v1 shapes: Texts sent, with our own links masked."""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework import serializers

from messaging.models import OutboundMessage

_LIVE_LINK = None


def mask_links(body: str) -> str:
    """Our own links in a stored text (tracked /l/ links, signup and data-page links) are live:
    a click through the API would count as the fan's, and a data-page link opens their data."""
    global _LIVE_LINK
    if _LIVE_LINK is None:
        _LIVE_LINK = re.compile(re.escape(settings.PUBLIC_BASE_URL.rstrip("/")) + r"/\S*")
    return _LIVE_LINK.sub("[link]", body)


class MessageSerializer(serializers.ModelSerializer):
    body = serializers.SerializerMethodField(help_text="The text sent; our own links replaced by [link].")
    sms_parts = serializers.IntegerField(source="parts", read_only=True)

    class Meta:
        model = OutboundMessage
        fields = [
            "id", "kind", "campaign", "fan", "status", "body", "sms_parts", "error_code", "error_message",
            "created_at", "sent_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_body(self, message: OutboundMessage) -> str:
        return mask_links(message.body)


class MessageFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OutboundMessage.Status.choices, required=False)
    campaign = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    fan = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    kind = serializers.ChoiceField(choices=OutboundMessage.Kind.choices, required=False)
