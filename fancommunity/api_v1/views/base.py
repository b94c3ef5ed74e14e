"""What every v1 viewset shares: auth, scopes, throttling, errors, paging; and the talent itself."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from accounts.models import Talent
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s

ERR_409 = OpenApiResponse(core.ErrorSerializer, description="The object is not in a state that allows this.")
ERR_422 = OpenApiResponse(core.ErrorSerializer, description="Idempotency-Key reused with another request.")
CSV = OpenApiResponse(OpenApiTypes.BINARY, description="The export file (CSV or JSON lines), streamed.")


class V1ViewSet(viewsets.GenericViewSet):
    authentication_classes = [core.BearerTokenAuthentication, core.ConsoleSessionAuthentication]
    permission_classes = [core.ScopePermission]
    throttle_classes = [core.TokenRateThrottle]
    pagination_class = core.IdCursorPagination
    scopes: dict[str, str] = {}

    def get_exception_handler(self):
        return core.exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        core.ratelimit_headers(request, response)
        return response

    @property
    def talent(self) -> Talent:
        return core.acting_talent(self.request)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self, "swagger_fake_view", False):
            return context
        context["talent"] = self.talent
        return context

    def filters(self, serializer_class) -> dict:
        return self.posted(serializer_class, data=self.request.query_params)

    def posted(self, serializer_class, instance=None, *, data=None, partial: bool = False) -> dict:
        """The request's body (or `data`) validated by `serializer_class`: a 400 with the field
        errors when it does not pass, so each action reads only clean values."""
        checked = serializer_class(instance, data=self.request.data if data is None else data, partial=partial)
        checked.is_valid(raise_exception=True)
        return checked.validated_data

    def paged_fans(self, queryset) -> Response:
        """A page of fans as FanSerializer renders them, built from .values() rows (s.fan_dicts)."""
        return self.get_paginated_response(s.fan_dicts(self.paginate_queryset(s.fan_values(queryset))))

    def paged(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(
            serializer_class(page, many=True, context=self.get_serializer_context()).data
        )


# --- talents --------------------------------------------------------------------------------
class TalentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, V1ViewSet):
    """The talent this token (or the console's current talent) acts for."""

    serializer_class = s.TalentSerializer
    scopes = {"*": ""}  # any valid token may read its own talent

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Talent.objects.none()
        return Talent.objects.filter(pk=self.talent.pk)
