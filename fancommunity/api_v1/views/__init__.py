"""/api/v1/ resources, one module per resource. Thin: input serializer -> the console's own
service -> output serializer.

Every queryset is filtered to the acting talent (core.acting_talent), so another talent's object
answers 404 like a missing id. Each action names its scope in its viewset's `scopes`.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from fancommunity.api_v1.views.audience import ContactListViewSet, SegmentViewSet, TagViewSet
from fancommunity.api_v1.views.automations import DropViewSet, KeywordViewSet
from fancommunity.api_v1.views.base import TalentViewSet
from fancommunity.api_v1.views.campaigns import CampaignViewSet
from fancommunity.api_v1.views.conversations import ConversationViewSet
from fancommunity.api_v1.views.fans import FanViewSet
from fancommunity.api_v1.views.messages import ConsentRecordViewSet, MessageViewSet
from fancommunity.api_v1.views.webhooks import WebhookEndpointViewSet, WebhookEventTypeViewSet


def register(router) -> None:
    router.register("talents", TalentViewSet, basename="v1-talent")
    router.register("fans", FanViewSet, basename="v1-fan")
    router.register("lists", ContactListViewSet, basename="v1-list")
    router.register("tags", TagViewSet, basename="v1-tag")
    router.register("segments", SegmentViewSet, basename="v1-segment")
    router.register("campaigns", CampaignViewSet, basename="v1-campaign")
    router.register("messages", MessageViewSet, basename="v1-message")
    router.register("consent-records", ConsentRecordViewSet, basename="v1-consent-record")
    router.register("conversations", ConversationViewSet, basename="v1-conversation")
    router.register("webhook-endpoints", WebhookEndpointViewSet, basename="v1-webhook-endpoint")
    router.register("webhook-event-types", WebhookEventTypeViewSet, basename="v1-webhook-event-type")
    router.register("keywords", KeywordViewSet, basename="v1-keyword")
    router.register("drops", DropViewSet, basename="v1-drop")


@csrf_exempt  # it writes nothing; a POST to a wrong path is a 404, not a CSRF page
def not_found(request, *args, **kwargs):
    """The JSON 404 of every path under /api/v1/ that names no resource."""
    return JsonResponse({"code": "not_found", "message": "No such path in API v1."}, status=404)
