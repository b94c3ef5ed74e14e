"""/api/v1/messages/ and /consent-records/: read-only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins

from consent.models import ConsentRecord
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.views.base import V1ViewSet
from messaging.models import (
    OutboundMessage,
)


# --- messages and consent records ----------------------------------------------------------------
@extend_schema_view(list=extend_schema(parameters=[s.MessageFilterSerializer]))
class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, V1ViewSet):
    """Texts sent to fans (campaigns, replies, system texts); our own links are masked in bodies."""

    serializer_class = s.MessageSerializer
    scopes = {"list": "campaigns:read", "retrieve": "campaigns:read"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return OutboundMessage.objects.none()
        return OutboundMessage.objects.filter(talent=self.talent)

    def list(self, request, *args, **kwargs):
        f = self.filters(s.MessageFilterSerializer)
        return self.paged(self.get_queryset().filter(**f), s.MessageSerializer)


@extend_schema_view(list=extend_schema(parameters=[s.ConsentFilterSerializer]))
class ConsentRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, V1ViewSet):
    """The append-only consent evidence (read-only: consent changes through fans' actions)."""

    serializer_class = s.ConsentRecordSerializer
    scopes = {"list": "fans:read", "retrieve": "fans:read"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ConsentRecord.objects.none()
        return ConsentRecord.objects.filter(talent=self.talent).select_related("terms", "privacy")

    def list(self, request, *args, **kwargs):
        f = self.filters(s.ConsentFilterSerializer)
        return self.paged(self.get_queryset().filter(**f), s.ConsentRecordSerializer)
