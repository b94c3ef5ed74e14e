"""/api/v1/campaigns/: drafts, preview, schedule, pause, resume, cancel, report (the campaign services)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.core import ApiError
from fancommunity.api_v1.views.base import ERR_409, ERR_422, V1ViewSet
from messaging.campaigns.services import (
    campaign_approve,
    campaign_cancel,
    campaign_estimate,
    campaign_pause,
    campaign_report,
    campaign_resume,
    campaign_schedule,
)
from messaging.models import (
    Campaign,
    CampaignStateError,
)


# --- campaigns --------------------------------------------------------------------------------
def _state(fn, **kwargs):
    try:
        return fn(**kwargs)
    except CampaignStateError as exc:
        raise ApiError(409, "invalid_transition", str(exc))


@extend_schema_view(
    create=extend_schema(responses={201: s.CampaignSerializer, 422: ERR_422}, parameters=[core.IDEMPOTENCY_HEADER]),
    partial_update=extend_schema(responses={200: s.CampaignSerializer}),
)
class CampaignViewSet(
    core.TalentRows,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    V1ViewSet,
):
    rows_of = Campaign
    serializer_class = s.CampaignSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    scopes = {
        "list": "campaigns:read",
        "retrieve": "campaigns:read",
        "preview": "campaigns:read",
        "report": "campaigns:read",
        "create": "campaigns:write",
        "partial_update": "campaigns:write",
        "schedule": "campaigns:write",
        "approve": "campaigns:write",
        "pause": "campaigns:write",
        "resume": "campaigns:write",
        "cancel": "campaigns:write",
    }

    def rows(self, queryset):
        return queryset.prefetch_related("include_lists", "exclude_lists", "include_segments", "exclude_segments")

    def create(self, request, *args, **kwargs):
        return core.idempotent(request, lambda: super(CampaignViewSet, self).create(request, *args, **kwargs))

    def perform_create(self, serializer):
        # As the console's compose page saves it (ModelForm): a draft; nothing is sent until scheduled.
        serializer.save(talent=self.talent, created_by=self.request.user)

    def _done(self, campaign) -> Response:
        campaign.refresh_from_db()
        return Response(s.CampaignSerializer(self.get_queryset().get(pk=campaign.pk)).data)

    @extend_schema(responses=s.EstimateSerializer)
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        e = campaign_estimate(campaign=self.get_object())
        return Response(
            {
                "preview": s.mask_links(e.preview),
                "encoding": e.info.encoding,
                "sms_parts": e.info.parts,
                "characters": e.info.units,
                "recipients": e.recipients,
                "parts_total": e.parts_total,
                "cost": e.cost,
                "currency": e.currency,
            }
        )

    @extend_schema(
        request=None,
        parameters=[core.IDEMPOTENCY_HEADER],
        responses={200: s.CampaignSerializer, 409: ERR_409, 422: ERR_422},
        description="Schedule a draft as composed (now, at send_at, or at a local time). Above the talent's "
        "approval threshold it waits for a second person (status awaiting_approval).",
    )
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        campaign = self.get_object()
        return core.idempotent(
            request, lambda: self._done(_state(campaign_schedule, campaign=campaign, actor=request.user))
        )

    @extend_schema(request=None, responses={200: s.CampaignSerializer, 409: ERR_409})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        campaign = self.get_object()
        if core.token_of(request) is not None:
            # The second pair of eyes must be a person at the console, never a script.
            raise ApiError(
                403, "approval_needs_a_person", "A token cannot approve a campaign; a second team member must."
            )
        return self._done(_state(campaign_approve, campaign=campaign, actor=request.user))

    @extend_schema(request=s.PauseSerializer, responses={200: s.CampaignSerializer, 409: ERR_409})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        campaign = self.get_object()
        reason = self.posted(s.PauseSerializer)["reason"]
        return self._done(_state(campaign_pause, campaign=campaign, actor=request.user, reason=reason))

    @extend_schema(request=None, responses={200: s.CampaignSerializer, 409: ERR_409})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._done(_state(campaign_resume, campaign=self.get_object(), actor=request.user))

    @extend_schema(request=None, responses={200: s.CampaignSerializer, 409: ERR_409})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._done(_state(campaign_cancel, campaign=self.get_object(), actor=request.user))

    @extend_schema(responses=s.ReportSerializer)
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        return Response(campaign_report(campaign=self.get_object()))
