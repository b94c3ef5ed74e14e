"""/api/v1/fans/: list (filters, cursor pages), retrieve, create with consent evidence, profile, opt-out, erase."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Fan
from accounts.services import fan_profile_update
from consent.models import ConsentRecord
from consent.services import Evidence, SignupRefused, fan_opt_out, fan_signup, phone_is_erased, terms_for_signup
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.core import ApiError
from fancommunity.api_v1.views.base import ERR_409, ERR_422, V1ViewSet
from messaging.audience import services as audience
from messaging.automations import joins as automation_joins
from messaging.models import (
    ContactListMember,
    FanTag,
    Segment,
)
from messaging.privacy.services import fan_erase


# --- fans -------------------------------------------------------------------------------------
def _evidence(consent: dict, note: str) -> Evidence:
    return Evidence(
        method=ConsentRecord.Method.IMPORT,  # collected elsewhere, recorded with its evidence, like an import
        ip=consent.get("ip"),
        user_agent=consent.get("user_agent", ""),
        evidence=f"api: {note}"[:200],
    )


@extend_schema_view(
    list=extend_schema(parameters=[s.FanFilterSerializer]),
    create=extend_schema(
        request=s.FanCreateSerializer,
        responses={201: s.FanSerializer, 200: s.FanSerializer, 409: ERR_409, 422: ERR_422},
        parameters=[core.IDEMPOTENCY_HEADER],
        description="Record a fan who agreed to texts elsewhere, with the evidence. 201: new; 200: the "
        "number was already a fan of this talent (the profile and consent are updated).",
    ),
    partial_update=extend_schema(request=s.FanProfileSerializer, responses={200: s.FanSerializer, 409: ERR_409}),
)
class FanViewSet(core.TalentRows, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, V1ViewSet):
    rows_of = Fan
    serializer_class = s.FanSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    scopes = {
        "list": "fans:read",
        "retrieve": "fans:read",
        "create": "fans:write",
        "partial_update": "fans:write",
        "opt_out": "fans:write",
        "erase": "fans:erase",
    }

    def list(self, request, *args, **kwargs):
        f = self.filters(s.FanFilterSerializer)
        qs = self.get_queryset()
        if "status" in f:
            qs = qs.filter(status=f["status"])
        if "phone" in f:
            qs = qs.filter(phone=str(f["phone"]))
        if "joined_after" in f:
            qs = qs.filter(joined_at__gte=f["joined_after"])
        if "joined_before" in f:
            qs = qs.filter(joined_at__lt=f["joined_before"])
        if "list" in f:
            qs = qs.filter(Exists(ContactListMember.objects.filter(contact_list_id=f["list"], fan=OuterRef("pk"))))
        if "tag" in f:
            qs = qs.filter(Exists(FanTag.objects.filter(tag_id=f["tag"], fan=OuterRef("pk"))))
        if "segment" in f:
            segment = Segment.objects.filter(talent=self.talent, pk=f["segment"]).first()
            if segment is None:
                raise ApiError(400, "invalid", "segment: no such segment.")
            qs = qs.filter(audience.segment_q(segment))
        return self.paged_fans(qs)

    def create(self, request, *args, **kwargs):
        return core.idempotent(request, self._create, describes_fan=True)

    def _create(self) -> Response:
        v = dict(self.posted(s.FanCreateSerializer))
        talent = self.talent
        phone = str(v.pop("phone"))
        consent = v.pop("consent")
        if phone_is_erased(talent=talent, e164=phone):
            raise ApiError(409, "erased_number", "This number asked to be forgotten; it cannot be added again here.")
        birth = v.get("birth_date")
        if birth is not None and _age(birth) < talent.min_age:
            raise ApiError(400, "invalid", f"birth_date: fans must be at least {talent.min_age}.")
        terms, privacy = terms_for_signup(talent=talent)
        if terms is None or privacy is None:
            raise ApiError(409, "no_published_terms", "Publish terms and a privacy policy before adding fans.")
        try:
            result = fan_signup(
                talent=talent,
                phone=phone,
                profile=v,
                messaging_consent=True,
                sharing_consent=consent["shares_with_partners"],
                terms=terms,
                privacy=privacy,
                evidence=_evidence(consent, f"{consent['source']} at {consent['collected_at'].isoformat()}"),
                source=Fan.Source.IMPORT,
            )
        except SignupRefused as exc:
            raise ApiError(409, "signup_refused", str(exc))
        if result.created:
            automation_joins.on_fan_joined(fan=result.fan, source="api")
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(s.FanSerializer(result.fan).data, status=code)

    def partial_update(self, request, *args, **kwargs):
        fan = self.get_object()
        if fan.status == Fan.Status.ERASED:
            raise ApiError(409, "erased", "This fan was erased; there is no profile to change.")
        changes = self.posted(s.FanProfileSerializer, fan, partial=True)
        fan_profile_update(fan=fan, changes=changes, actor=request.user)
        return Response(s.FanSerializer(fan).data)

    def update(self, request, *args, **kwargs):  # PUT is not offered (http_method_names)
        raise ApiError(405, "method_not_allowed", "Use PATCH.")

    @extend_schema(request=s.OptOutSerializer, responses={200: s.FanSerializer, 409: ERR_409})
    @action(detail=True, methods=["post"], url_path="opt-out")
    def opt_out(self, request, pk=None):
        fan = self.get_object()
        note = self.posted(s.OptOutSerializer)["note"]
        if fan.status == Fan.Status.ERASED:
            raise ApiError(409, "erased", "This fan was erased.")
        note = note or "opted out through the API"
        fan_opt_out(fan=fan, evidence=Evidence(method=ConsentRecord.Method.CONSOLE, evidence=f"api: {note}"[:200]))
        fan.refresh_from_db()
        return Response(s.FanSerializer(fan).data)

    @extend_schema(request=s.EraseSerializer, responses={200: s.FanSerializer})
    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        fan = self.get_object()
        reason = self.posted(s.EraseSerializer)["reason"]
        fan_erase(fan=fan, actor=request.user, reason=reason)
        return Response(s.FanSerializer(fan).data)


def _age(birth) -> int:
    import datetime as dt

    today = dt.date.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
