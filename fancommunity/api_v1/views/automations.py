"""/api/v1/keywords/ and /api/v1/drops/: keyword automations and drops (messaging/automations).

Scopes are the campaigns' (campaigns:read / campaigns:write): the console gates these pages on
the same capability as composing a campaign (`compose`), and a drop's release is a campaign.
Drops go through the drop services (`drop_save`, `drop_set_paused`): the release campaign is
created, kept in step and paused with the drop exactly as from the console. A drop's codes never
leave through the API, not even to staff: who got which code is the box office's audited export
in the console; the API shows counts.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from fancommunity.api_v1 import automations as workflow
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.views.base import ERR_422, V1ViewSet
from messaging.automations import drops
from messaging.automations.drop_models import Drop
from messaging.automations.keyword_models import Keyword

READ = {"list": "campaigns:read", "retrieve": "campaigns:read"}
WRITE = {"create": "campaigns:write", "partial_update": "campaigns:write"}
PAUSE = {"pause": "campaigns:write", "resume": "campaigns:write"}


class AutomationViewSet(
    core.TalentRows, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, V1ViewSet
):
    """Keywords and drops alike: made and changed by the automation's own save, paused and resumed
    by its own service; a subclass names them (`save`, `set_paused`)."""

    http_method_names = ["get", "post", "patch", "head", "options"]
    scopes = {**READ, **WRITE, **PAUSE}

    def create(self, request, *args, **kwargs):
        # Not CreateModelMixin: the object is made by the automation's own save (drop_save makes the
        # release campaign), never by ModelSerializer.create.
        return core.idempotent(request, lambda: self._create(request))

    def _create(self, request) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = self.save(data)
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        self.save(serializer)

    def save(self, serializer):
        raise NotImplementedError

    def set_paused(self, obj, *, paused: bool):
        raise NotImplementedError

    def _answer(self, obj) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data)

    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._answer(self.set_paused(self.get_object(), paused=True))

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._answer(self.set_paused(self.get_object(), paused=False))


@extend_schema_view(
    create=extend_schema(responses={201: s.KeywordSerializer, 422: ERR_422}, parameters=[core.IDEMPOTENCY_HEADER]),
    partial_update=extend_schema(responses={200: s.KeywordSerializer}),
    pause=extend_schema(
        request=None,
        responses={200: s.KeywordSerializer},
        description="Pause: the keyword does nothing and texts with it reach the inbox.",
    ),
    resume=extend_schema(request=None, responses={200: s.KeywordSerializer}),
)
class KeywordViewSet(AutomationViewSet):
    """A talent's own words: what texting each does (a reply, a list, tags, a drop). The platform's
    words (STOP, START, HELP, the data keyword) are refused as keywords or aliases."""

    rows_of = Keyword
    serializer_class = s.KeywordSerializer

    def rows(self, queryset):
        return queryset.select_related("talent").prefetch_related("tags")

    def save(self, serializer):
        values = dict(serializer.validated_data)
        tags = values.pop("tags", None)
        keyword = serializer.instance or Keyword(talent=self.talent)
        for name, value in values.items():
            setattr(keyword, name, value)
        keyword = workflow.keyword_save(keyword=keyword, tags=tags, actor=self.request.user)
        serializer.instance = keyword
        return keyword

    def set_paused(self, obj, *, paused: bool):
        return workflow.keyword_set_paused(keyword=obj, paused=paused, actor=self.request.user)


@extend_schema_view(
    create=extend_schema(
        responses={201: s.DropSerializer, 422: ERR_422},
        parameters=[core.IDEMPOTENCY_HEADER],
        description="Create a drop: its list of entrants and its release campaign, scheduled for release_at. "
        "Fans join through a keyword whose drop is this one.",
    ),
    partial_update=extend_schema(
        responses={200: s.DropSerializer},
        description="Change a drop; a release that has not started follows the new text and time.",
    ),
    pause=extend_schema(
        request=None,
        responses={200: s.DropSerializer},
        description="Pause: no one joins, nothing is sent, the release waits (its campaign is paused).",
    ),
    resume=extend_schema(request=None, responses={200: s.DropSerializer}),
)
class DropViewSet(AutomationViewSet):
    """Releases, presales and shows fans join by keyword. Codes are counted here, never listed."""

    rows_of = Drop
    serializer_class = s.DropSerializer

    def rows(self, queryset):
        return queryset.select_related("talent", "campaign").order_by("-release_at", "-id")

    def save(self, serializer):
        drop = serializer.instance or Drop(talent=self.talent)
        for name, value in serializer.validated_data.items():
            setattr(drop, name, value)
        drop = drops.drop_save(drop=drop, actor=self.request.user)
        serializer.instance = drop
        return drop

    def set_paused(self, obj, *, paused: bool):
        return drops.drop_set_paused(drop=obj, paused=paused, actor=self.request.user)
