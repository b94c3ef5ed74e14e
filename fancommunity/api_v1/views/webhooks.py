"""/api/v1/webhook-endpoints/ and /webhook-event-types/: outgoing webhooks managed by a script.

Through the console's own services (fancommunity/webhooks_out/endpoints.py and accounts/outbox.py):
the same URL rule (netguard: public https only), the same owners-only rule (the token's creator
must still be an owner), the same audit rows. A signing secret is in the answer of the create and
of the rotation only; no read ever shows it again.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.outbox import CATALOGUE, PING, WebhookEndpoint, webhook_ping
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.core import ApiError
from fancommunity.api_v1.views.base import ERR_422, V1ViewSet
from fancommunity.webhooks_out import endpoints

SAMPLE_TIMESTAMP = "2026-11-30T18:02:11Z"


def _service(fn, **kwargs):
    try:
        return fn(**kwargs)
    except endpoints.EndpointError as exc:
        raise ApiError(400, "invalid", str(exc))
    except PermissionError as exc:
        raise ApiError(403, "permission_denied", str(exc))


@extend_schema_view(
    create=extend_schema(
        request=s.WebhookEndpointSerializer,
        responses={201: s.WebhookEndpointCreatedSerializer, 422: ERR_422},
        parameters=[core.IDEMPOTENCY_HEADER],
        description="Subscribe an https URL on the public internet to events. The answer carries the signing "
        "secret (Standard Webhooks, whsec_...): it is shown this once.",
    ),
    partial_update=extend_schema(request=s.WebhookEndpointSerializer, responses={200: s.WebhookEndpointSerializer}),
    destroy=extend_schema(responses={204: None}),
)
class WebhookEndpointViewSet(
    core.TalentRows,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    V1ViewSet,
):
    """The talent's outgoing webhook endpoints: where events are posted, signed."""

    rows_of = WebhookEndpoint
    serializer_class = s.WebhookEndpointSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    scopes = {k: "webhooks:manage" for k in ("list", "retrieve", "create", "partial_update", "destroy")}
    scopes.update(rotate_secret="webhooks:manage", ping="webhooks:manage")

    def rows(self, queryset):
        return queryset.order_by("-id")

    def create(self, request, *args, **kwargs):
        return core.idempotent(request, self._create)

    def _create(self) -> Response:
        v = self.posted(s.WebhookEndpointSerializer)
        endpoint, secret = _service(
            endpoints.endpoint_create,
            talent=self.talent,
            actor=self.request.user,
            url=v["url"],
            description=v.get("description", ""),
            events=v.get("events"),
            is_active=v.get("is_active", True),
        )
        body = s.WebhookEndpointCreatedSerializer(endpoint).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        endpoint = self.get_object()
        changes = dict(self.posted(s.WebhookEndpointSerializer, endpoint, partial=True))
        saved = _service(endpoints.endpoint_update, endpoint=endpoint, actor=request.user, changes=changes)
        return Response(s.WebhookEndpointSerializer(saved).data)

    def update(self, request, *args, **kwargs):  # PUT is not offered (http_method_names)
        raise ApiError(405, "method_not_allowed", "Use PATCH.")

    def destroy(self, request, *args, **kwargs):
        _service(endpoints.endpoint_delete, endpoint=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: s.SecretSerializer},
        description="A new signing secret, shown this once. The previous one keeps signing for 24 hours "
        "(both signatures are sent), so the receiver can switch without missing an event.",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = self.get_object()
        secret = _service(endpoints.endpoint_rotate, endpoint=endpoint, actor=request.user)
        response = Response({"secret": secret, "previous_secret_until": endpoint.previous_secret_until})
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        request=None,
        responses={202: s.WebhookEndpointSerializer},
        description=f"Queue a {PING} event to this endpoint, whatever it subscribes to; the delivery log "
        "in the console shows the answer.",
    )
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        endpoint = self.get_object()
        webhook_ping(endpoint=endpoint)
        return Response(s.WebhookEndpointSerializer(endpoint).data, status=status.HTTP_202_ACCEPTED)


class WebhookEventTypeViewSet(V1ViewSet):
    """The event catalogue: each type, what it means, and a sample of the whole body sent."""

    scopes = {"list": ""}  # any valid token: it describes the product, not the talent's data
    pagination_class = None

    @extend_schema(responses=s.WebhookEventTypeSerializer(many=True))
    def list(self, request):
        rows = [
            {
                "name": e.name,
                "description": e.description,
                "opt_in_only": e.opt_in_only,
                "sample": {"type": e.name, "timestamp": SAMPLE_TIMESTAMP, "data": e.sample},
            }
            for e in CATALOGUE.values()
        ]
        return Response(s.WebhookEventTypeSerializer(rows, many=True).data)
