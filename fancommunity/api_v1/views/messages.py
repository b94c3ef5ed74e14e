"""/api/v1/messages/ and /consent-records/: read-only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from consent.models import ConsentRecord
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.views.base import V1ViewSet
from messaging.models import (
    OutboundMessage,
)


class _ReadOnlyRows(core.TalentRows, mixins.ListModelMixin, mixins.RetrieveModelMixin, V1ViewSet):
    """A read-only resource: a page of the talent's rows narrowed by the query's filters
    (`filter_serializer`), or one row."""

    filter_serializer: type[serializers.Serializer]

    def list(self, request, *args, **kwargs):
        f = self.filters(self.filter_serializer)
        return self.paged(self.get_queryset().filter(**f), self.serializer_class)


# --- messages and consent records ----------------------------------------------------------------
@extend_schema_view(list=extend_schema(parameters=[s.MessageFilterSerializer]))
class MessageViewSet(_ReadOnlyRows):
    """Texts sent to fans (campaigns, replies, system texts); our own links are masked in bodies."""

    rows_of = OutboundMessage
    serializer_class = s.MessageSerializer
    filter_serializer = s.MessageFilterSerializer
    scopes = {"list": "campaigns:read", "retrieve": "campaigns:read"}


@extend_schema_view(list=extend_schema(parameters=[s.ConsentFilterSerializer]))
class ConsentRecordViewSet(_ReadOnlyRows):
    """The append-only consent evidence (read-only: consent changes through fans' actions)."""

    rows_of = ConsentRecord
    serializer_class = s.ConsentRecordSerializer
    filter_serializer = s.ConsentFilterSerializer
    scopes = {"list": "fans:read", "retrieve": "fans:read"}

    def rows(self, queryset):
        return queryset.select_related("terms", "privacy")
