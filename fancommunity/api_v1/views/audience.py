"""/api/v1/lists/, /tags/, /segments/: CRUD, members, counts and exports, through the audience services."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Fan
from consent.models import Partner
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.core import ApiError
from fancommunity.api_v1.views.base import CSV, ERR_409, ERR_422, V1ViewSet
from messaging.audience import exports
from messaging.audience import services as audience
from messaging.audience.models import BUILTIN_SEGMENT_NAME, validate_definition
from messaging.audience.rules import SegmentRuleError
from messaging.models import (
    ContactList,
    Segment,
    Tag,
)


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
    response = export.download()
    core.ratelimit_headers(view.request, response)
    return response


EXPORT_SCHEMA = extend_schema(parameters=[s.ExportQuerySerializer], responses={(200, "text/csv"): CSV})


def _members(view: V1ViewSet, queryset) -> Response:
    core.require_scope(view.request, "fans:read")
    return view.paged_fans(queryset.order_by("-id"))


def _unique_name(model, talent, name: str, instance=None) -> None:
    clash = model.objects.filter(talent=talent, name=name)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ApiError(400, "invalid", f"name: there is already one named {name!r}.")


def _change_members(view: V1ViewSet, change) -> Response:
    """Add fans to (or remove them from) a list or a tag: `change(fans)` does it through the
    audience service and returns how many changed; ids of no fan of this talent are named back."""
    wanted = view.posted(s.MembersInputSerializer)["fan_ids"]
    fans = Fan.objects.filter(talent=view.talent, pk__in=wanted)
    known = set(fans.values_list("pk", flat=True))
    return Response({"changed": change(fans), "not_found": [i for i in wanted if i not in known]})


class _UniquelyNamed(core.TalentRows):
    """Lists and tags: a name is unique in the talent, so a clash is a clear 400 (not the database
    constraint's 500), on create and on rename."""

    def perform_create(self, serializer):
        _unique_name(self.rows_of, self.talent, serializer.validated_data["name"])
        serializer.save(talent=self.talent)

    def perform_update(self, serializer):
        name = serializer.validated_data.get("name", serializer.instance.name)
        _unique_name(self.rows_of, self.talent, name, serializer.instance)
        serializer.save()


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


class ContactListViewSet(_UniquelyNamed, viewsets.ModelViewSet, V1ViewSet):
    rows_of = ContactList
    serializer_class = s.ContactListSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    scopes = {
        **AUDIENCE_SCOPES,
        "add_fans": "audience:write",
        "remove_fans": "audience:write",
        "export": "audience:read",
    }

    def rows(self, queryset):
        return queryset.annotate(_members=Count("memberships"))

    @extend_schema(responses={201: s.ContactListSerializer, 422: ERR_422}, parameters=[core.IDEMPOTENCY_HEADER])
    def create(self, request, *args, **kwargs):
        return core.idempotent(request, lambda: super(ContactListViewSet, self).create(request, *args, **kwargs))

    def perform_destroy(self, instance):
        audience.contact_list_delete(contact_list=instance, actor=self.request.user)

    @extend_schema(responses=s.FanSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        return _members(self, audience.contact_list_queryset(self.get_object()))

    def _change(self, service) -> Response:
        contact_list = self.get_object()
        return _change_members(
            self, lambda fans: service(contact_list=contact_list, fans=fans, actor=self.request.user)
        )

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
class TagViewSet(_UniquelyNamed, viewsets.ModelViewSet, V1ViewSet):
    rows_of = Tag
    serializer_class = s.TagSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    scopes = {**AUDIENCE_SCOPES, "add_fans": "audience:write"}

    def rows(self, queryset):
        return queryset.order_by("-id")

    @extend_schema(responses={201: s.TagSerializer, 422: ERR_422}, parameters=[core.IDEMPOTENCY_HEADER])
    def create(self, request, *args, **kwargs):
        return core.idempotent(request, lambda: super(TagViewSet, self).create(request, *args, **kwargs))

    @extend_schema(responses=s.FanSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        tag = self.get_object()
        return _members(self, Fan.objects.filter(talent=self.talent, fan_tags__tag=tag))

    @extend_schema(request=s.MembersInputSerializer, responses=s.MembersResultSerializer)
    @action(detail=True, methods=["post"], url_path="add-fans")
    def add_fans(self, request, pk=None):
        tag = self.get_object()
        return _change_members(
            self,
            lambda fans: audience.fan_tags_add(talent=self.talent, tag_name=tag.name, fans=fans, actor=request.user),
        )


# --- segments ---------------------------------------------------------------------------------
class SegmentViewSet(core.TalentRows, viewsets.ModelViewSet, V1ViewSet):
    rows_of = Segment
    serializer_class = s.SegmentSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    scopes = {**AUDIENCE_SCOPES, "count": "audience:read", "export": "audience:read"}

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
