"""/api/v1/ resources. Thin: input serializer -> the console's own service -> output serializer.

Every queryset is filtered to the acting talent (core.acting_talent), so another talent's object
answers 404 like a missing id. Each action names its scope in `scopes`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Fan, Talent
from accounts.services import fan_profile_update
from consent.models import ConsentRecord, Partner
from consent.services import Evidence, SignupRefused, fan_opt_out, fan_signup, phone_is_erased, terms_for_signup
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.core import ApiError
from messaging.audience import exports
from messaging.audience import services as audience
from messaging.audience.models import BUILTIN_SEGMENT_NAME, validate_definition
from messaging.audience.rules import SegmentRuleError
from messaging.automations import joins as automation_joins
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
    ContactList,
    ContactListMember,
    FanTag,
    OutboundMessage,
    Segment,
    Tag,
)
from messaging.privacy.services import fan_erase

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
        data = serializer_class(data=self.request.query_params)
        data.is_valid(raise_exception=True)
        return data.validated_data

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
class FanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, V1ViewSet):
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

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Fan.objects.none()
        return Fan.objects.filter(talent=self.talent)

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
        return self.paged(qs, s.FanSerializer)

    def create(self, request, *args, **kwargs):
        return core.idempotent(request, self._create, describes_fan=True)

    def _create(self) -> Response:
        data = s.FanCreateSerializer(data=self.request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
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
        data = s.FanProfileSerializer(fan, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fan_profile_update(fan=fan, changes=data.validated_data, actor=request.user)
        return Response(s.FanSerializer(fan).data)

    def update(self, request, *args, **kwargs):  # PUT is not offered (http_method_names)
        raise ApiError(405, "method_not_allowed", "Use PATCH.")

    @extend_schema(request=s.OptOutSerializer, responses={200: s.FanSerializer, 409: ERR_409})
    @action(detail=True, methods=["post"], url_path="opt-out")
    def opt_out(self, request, pk=None):
        fan = self.get_object()
        data = s.OptOutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if fan.status == Fan.Status.ERASED:
            raise ApiError(409, "erased", "This fan was erased.")
        note = data.validated_data["note"] or "opted out through the API"
        fan_opt_out(fan=fan, evidence=Evidence(method=ConsentRecord.Method.CONSOLE, evidence=f"api: {note}"[:200]))
        fan.refresh_from_db()
        return Response(s.FanSerializer(fan).data)

    @extend_schema(request=s.EraseSerializer, responses={200: s.FanSerializer})
    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        fan = self.get_object()
        data = s.EraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fan_erase(fan=fan, actor=request.user, reason=data.validated_data["reason"])
        return Response(s.FanSerializer(fan).data)


def _age(birth) -> int:
    import datetime as dt

    today = dt.date.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


# --- shared by lists, tags and segments ----------------------------------------------------------
def _export(view: V1ViewSet, *, segment=None, contact_list=None):
    core.require_scope(view.request, "exports")
    q = view.filters(s.ExportQuerySerializer)
    partner = None
    if q["partner_id"] is not None:
        partner = Partner.objects.filter(pk=q["partner_id"], talent=view.talent).first()
        if partner is None:
            raise ApiError(400, "invalid", f"No partner {q['partner_id']} of this talent.")
    try:
        export = exports.audience_export(
            talent=view.talent,
            actor=view.request.user,
            segment=segment,
            contact_list=contact_list,
            columns=q["columns"],
            file_format=q["file_format"],
            for_partner=q["partner"],
            partner=partner,
            audience=q["audience"],
            purpose=q["purpose"],
            via="api",
        )
    except audience.AudienceError as exc:
        raise ApiError(400, "invalid", str(exc))
    except PermissionError as exc:
        raise ApiError(403, "permission_denied", str(exc))
    response = StreamingHttpResponse(export.chunks(), content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    core.ratelimit_headers(view.request, response)
    return response


EXPORT_SCHEMA = extend_schema(parameters=[s.ExportQuerySerializer], responses={(200, "text/csv"): CSV})


def _members(view: V1ViewSet, queryset) -> Response:
    core.require_scope(view.request, "fans:read")
    return view.paged(queryset.order_by("-id"), s.FanSerializer)


def _unique_name(model, talent, name: str, instance=None) -> None:
    clash = model.objects.filter(talent=talent, name=name)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ApiError(400, "invalid", f"name: there is already one named {name!r}.")


# --- lists ------------------------------------------------------------------------------------
# What lists, tags and segments share: reading their rows and members, writing the rows.
AUDIENCE_SCOPES = {
    "list": "audience:read",
    "retrieve": "audience:read",
    "create": "audience:write",
    "partial_update": "audience:write",
    "destroy": "audience:write",
    "members": "audience:read",
}


class ContactListViewSet(viewsets.ModelViewSet, V1ViewSet):
    serializer_class = s.ContactListSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    scopes = {
        **AUDIENCE_SCOPES,
        "add_fans": "audience:write",
        "remove_fans": "audience:write",
        "export": "audience:read",
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ContactList.objects.none()
        return ContactList.objects.filter(talent=self.talent).annotate(_members=Count("memberships"))

    @extend_schema(responses={201: s.ContactListSerializer, 422: ERR_422}, parameters=[core.IDEMPOTENCY_HEADER])
    def create(self, request, *args, **kwargs):
        return core.idempotent(request, lambda: super(ContactListViewSet, self).create(request, *args, **kwargs))

    def perform_create(self, serializer):
        _unique_name(ContactList, self.talent, serializer.validated_data["name"])
        serializer.save(talent=self.talent)

    def perform_update(self, serializer):
        _unique_name(
            ContactList,
            self.talent,
            serializer.validated_data.get("name", serializer.instance.name),
            serializer.instance,
        )
        serializer.save()

    def perform_destroy(self, instance):
        audience.contact_list_delete(contact_list=instance, actor=self.request.user)

    @extend_schema(responses=s.FanSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        return _members(self, audience.contact_list_queryset(self.get_object()))

    def _change(self, service) -> Response:
        contact_list = self.get_object()
        data = s.MembersInputSerializer(data=self.request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["fan_ids"]
        fans = Fan.objects.filter(talent=self.talent, pk__in=wanted)
        known = set(fans.values_list("pk", flat=True))
        changed = service(contact_list=contact_list, fans=fans, actor=self.request.user)
        return Response({"changed": changed, "not_found": [i for i in wanted if i not in known]})

    @extend_schema(request=s.MembersInputSerializer, responses=s.MembersResultSerializer)
    @action(detail=True, methods=["post"], url_path="add-fans")
    def add_fans(self, request, pk=None):
        return self._change(audience.contact_list_add_fans)

    @extend_schema(request=s.MembersInputSerializer, responses=s.MembersResultSerializer)
    @action(detail=True, methods=["post"], url_path="remove-fans")
    def remove_fans(self, request, pk=None):
        return self._change(audience.contact_list_remove_fans)

    @EXPORT_SCHEMA
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return _export(self, contact_list=self.get_object())


# --- tags -------------------------------------------------------------------------------------
class TagViewSet(viewsets.ModelViewSet, V1ViewSet):
    serializer_class = s.TagSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    scopes = {**AUDIENCE_SCOPES, "add_fans": "audience:write"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Tag.objects.none()
        return Tag.objects.filter(talent=self.talent).order_by("-id")

    @extend_schema(responses={201: s.TagSerializer, 422: ERR_422}, parameters=[core.IDEMPOTENCY_HEADER])
    def create(self, request, *args, **kwargs):
        return core.idempotent(request, lambda: super(TagViewSet, self).create(request, *args, **kwargs))

    def perform_create(self, serializer):
        _unique_name(Tag, self.talent, serializer.validated_data["name"])
        serializer.save(talent=self.talent)

    def perform_update(self, serializer):
        _unique_name(
            Tag, self.talent, serializer.validated_data.get("name", serializer.instance.name), serializer.instance
        )
        serializer.save()

    @extend_schema(responses=s.FanSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        tag = self.get_object()
        return _members(self, Fan.objects.filter(talent=self.talent, fan_tags__tag=tag))

    @extend_schema(request=s.MembersInputSerializer, responses=s.MembersResultSerializer)
    @action(detail=True, methods=["post"], url_path="add-fans")
    def add_fans(self, request, pk=None):
        tag = self.get_object()
        data = s.MembersInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["fan_ids"]
        fans = Fan.objects.filter(talent=self.talent, pk__in=wanted)
        known = set(fans.values_list("pk", flat=True))
        changed = audience.fan_tags_add(talent=self.talent, tag_name=tag.name, fans=fans, actor=request.user)
        return Response({"changed": changed, "not_found": [i for i in wanted if i not in known]})


# --- segments ---------------------------------------------------------------------------------
class SegmentViewSet(viewsets.ModelViewSet, V1ViewSet):
    serializer_class = s.SegmentSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    scopes = {**AUDIENCE_SCOPES, "count": "audience:read", "export": "audience:read"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Segment.objects.none()
        return Segment.objects.filter(talent=self.talent)

    def _validated(self, serializer, instance=None) -> dict:
        v = serializer.validated_data
        name = v.get("name", getattr(instance, "name", ""))
        if name == BUILTIN_SEGMENT_NAME:
            raise ApiError(400, "invalid", "name: 'all' is the built-in segment's name.")
        _unique_name(Segment, self.talent, name, instance)
        extra = {}
        if "definition" in v:
            try:
                extra["definition"] = validate_definition(v["definition"], talent_id=self.talent.pk)
            except (SegmentRuleError, DjangoValidationError) as exc:
                raise ApiError(400, "invalid", f"definition: {exc}")
        return extra

    @extend_schema(responses={201: s.SegmentSerializer, 422: ERR_422}, parameters=[core.IDEMPOTENCY_HEADER])
    def create(self, request, *args, **kwargs):
        return core.idempotent(request, lambda: super(SegmentViewSet, self).create(request, *args, **kwargs))

    def perform_create(self, serializer):
        serializer.save(talent=self.talent, **self._validated(serializer))

    @extend_schema(responses={200: s.SegmentSerializer, 409: ERR_409})
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    def perform_update(self, serializer):
        if serializer.instance.is_builtin:
            raise ApiError(409, "builtin_segment", "The built-in segment 'all' cannot be changed.")
        serializer.save(**self._validated(serializer, serializer.instance))

    @extend_schema(responses={204: None, 409: ERR_409})
    def destroy(self, request, *args, **kwargs):
        segment = self.get_object()
        try:
            audience.segment_delete(segment=segment, actor=request.user)
        except (audience.AudienceError, DjangoValidationError):
            raise ApiError(409, "builtin_segment", "The built-in segment 'all' cannot be deleted.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.CountSerializer)
    @action(detail=True, methods=["get"])
    def count(self, request, pk=None):
        return Response({"count": audience.segment_queryset(self.get_object()).count()})

    @extend_schema(responses=s.FanSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        return _members(self, audience.segment_queryset(self.get_object()))

    @EXPORT_SCHEMA
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return _export(self, segment=self.get_object())


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
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, V1ViewSet
):
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

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Campaign.objects.none()
        return Campaign.objects.filter(talent=self.talent).prefetch_related(
            "include_lists", "exclude_lists", "include_segments", "exclude_segments"
        )

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
        data = s.PauseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._done(
            _state(campaign_pause, campaign=campaign, actor=request.user, reason=data.validated_data["reason"])
        )

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


def register(router) -> None:
    router.register("talents", TalentViewSet, basename="v1-talent")
    router.register("fans", FanViewSet, basename="v1-fan")
    router.register("lists", ContactListViewSet, basename="v1-list")
    router.register("tags", TagViewSet, basename="v1-tag")
    router.register("segments", SegmentViewSet, basename="v1-segment")
    router.register("campaigns", CampaignViewSet, basename="v1-campaign")
    router.register("messages", MessageViewSet, basename="v1-message")
    router.register("consent-records", ConsentRecordViewSet, basename="v1-consent-record")


__all__ = ["register", "settings", "transaction"]


@csrf_exempt  # it writes nothing; a POST to a wrong path is a 404, not a CSRF page
def not_found(request, *args, **kwargs):
    """The JSON 404 of every path under /api/v1/ that names no resource."""
    return JsonResponse({"code": "not_found", "message": "No such path in API v1."}, status=404)
