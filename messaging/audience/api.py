"""Audience API: contact lists, segments, tags, imports and exports. Thin: input serializer ->
service -> output serializer; every queryset scoped to the caller's talents (accounts.permissions).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.http import HttpResponse
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts import current_talent, permissions
from accounts.actors import require
from accounts.models import Fan, Talent
from consent.models import Partner
from messaging.audience import exports, imports
from messaging.audience import services as audience
from messaging.audience.exports import EXPORT_AUDIENCES, EXPORT_COLUMNS, EXPORT_FORMATS
from messaging.audience.imports import ImportRefused
from messaging.audience.models import BUILTIN_SEGMENT_NAME, validate_definition
from messaging.audience.rules import SegmentRuleError
from messaging.models import ContactList, ImportBatch, Segment, Tag

SAMPLE_SIZE = 10


class IdCursorPagination(CursorPagination):
    ordering = "-id"


def _allowed_talents(request, capability: str = "view"):
    ids = permissions.talent_ids(request.user, capability)
    # The console's own pages call the API with the session: they follow the talent chosen in the
    # header. A script signing in with Basic auth has no switcher and keeps all its talents.
    if isinstance(getattr(request, "successful_authenticator", None), SessionAuthentication):
        ids = current_talent.narrow(request, ids)
    return ids


def _require(request, capability: str, talent_id: int) -> None:
    # NotAllowed is a Django PermissionDenied: DRF answers 403 with this message.
    require(
        request.user,
        capability,
        talent_id,
        refusal=f"Your role may not {capability.replace('_', ' ')} for this talent.",
    )


class _TeamEdited:
    """Lists and segments: creating or changing one needs edit_audience in its talent."""

    def perform_create(self, serializer):
        _require(self.request, "edit_audience", serializer.validated_data["talent"].pk)
        serializer.save()

    def perform_update(self, serializer):
        _require(self.request, "edit_audience", serializer.instance.talent_id)
        serializer.save()


class ScopedTalentField(serializers.PrimaryKeyRelatedField):
    """A talent the caller may edit the audience of; anything else reads as "does not exist"."""

    def get_queryset(self):
        request = self.context["request"]
        ids = _allowed_talents(request, "edit_audience")
        qs = Talent.objects.all()
        return qs if ids is None else qs.filter(id__in=ids)


class ScopedMixin:
    """Rows of the caller's talents only; another talent's id answers 404, never 403."""

    pagination_class = IdCursorPagination

    def scoped(self, qs):
        ids = _allowed_talents(self.request)
        return qs if ids is None else qs.filter(talent_id__in=ids)


# --- serializers -------------------------------------------------------------------------------------------
class FanSampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Fan
        fields = ["id", "first_name", "last_name", "city", "region", "country", "status", "joined_at"]


def _refuse_a_second(model, talent, name, instance, noun: str) -> None:
    """Names are unique within a talent (NamedInTalent's constraint): say so as a field error
    before the database would answer with an IntegrityError."""
    clash = model.objects.filter(talent=talent, name=name)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ApiValidationError({"name": f"{talent} already has a {noun} named {name!r}."})


class ContactListSerializer(serializers.ModelSerializer):
    talent = ScopedTalentField()
    member_count = serializers.IntegerField(read_only=True, source="_members", default=None)

    class Meta:
        model = ContactList
        fields = ["id", "talent", "name", "description", "member_count", "created_at"]

    def validate(self, attrs):
        talent = attrs.get("talent") or getattr(self.instance, "talent", None)
        name = attrs.get("name", getattr(self.instance, "name", None))
        if self.instance is not None and "talent" in attrs and attrs["talent"] != self.instance.talent:
            raise ApiValidationError({"talent": "A list cannot move to another talent."})
        _refuse_a_second(ContactList, talent, name, self.instance, "list")
        return attrs


class SegmentSerializer(serializers.ModelSerializer):
    talent = ScopedTalentField()

    class Meta:
        model = Segment
        fields = ["id", "talent", "name", "description", "definition", "is_builtin", "created_at", "updated_at"]
        read_only_fields = ["is_builtin", "created_at", "updated_at"]

    def validate(self, attrs):
        if self.instance is not None and self.instance.is_builtin:
            raise ApiValidationError("The built-in segment 'all' cannot be changed.")
        talent = attrs.get("talent") or getattr(self.instance, "talent", None)
        if self.instance is not None and "talent" in attrs and attrs["talent"] != self.instance.talent:
            raise ApiValidationError({"talent": "A segment cannot move to another talent."})
        name = attrs.get("name", getattr(self.instance, "name", None))
        if name == BUILTIN_SEGMENT_NAME:
            raise ApiValidationError({"name": "'all' is the built-in segment's name."})
        _refuse_a_second(Segment, talent, name, self.instance, "segment")
        if "definition" in attrs or self.instance is None:
            try:
                attrs["definition"] = validate_definition(attrs.get("definition"), talent_id=talent.pk)
            except SegmentRuleError as exc:
                raise ApiValidationError({"definition": str(exc)})
        return attrs


class PreviewInputSerializer(serializers.Serializer):
    talent = ScopedTalentField()
    definition = serializers.JSONField()


class FansInputSerializer(serializers.Serializer):
    fan_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=10_000)
    phones = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=10_000)
    default_region = serializers.CharField(max_length=2, required=False, default="")

    def validate(self, attrs):
        if not attrs.get("fan_ids") and not attrs.get("phones"):
            raise ApiValidationError("Give fan_ids or phones.")
        return attrs


class ExportInputSerializer(serializers.Serializer):
    columns = serializers.CharField(required=False, default="", help_text="comma-separated")
    # Not "format": DRF reads ?format= as the renderer to answer with.
    file_format = serializers.ChoiceField(choices=EXPORT_FORMATS, required=False, default="csv")
    partner = serializers.BooleanField(required=False, default=False)
    partner_id = serializers.IntegerField(required=False, default=None, allow_null=True, help_text="consent.Partner id")
    # Reachable fans unless asked; opted-out fans (a suppression list) need a stated purpose.
    audience = serializers.ChoiceField(choices=list(EXPORT_AUDIENCES), required=False, default="reachable")
    purpose = serializers.CharField(required=False, default="", max_length=200)

    def validate_columns(self, value):
        columns = [c.strip() for c in value.split(",") if c.strip()]
        unknown = [c for c in columns if c not in EXPORT_COLUMNS]
        if unknown:
            raise ApiValidationError(f"Unknown column {unknown[0]!r}; choose from {', '.join(EXPORT_COLUMNS)}.")
        return columns or None


class ImportInputSerializer(serializers.Serializer):
    talent = ScopedTalentField()
    file = serializers.FileField()
    consent_source = serializers.CharField(max_length=200)
    consent_date = serializers.DateField()
    default_region = serializers.CharField(max_length=2, required=False, default="")
    contact_list = serializers.PrimaryKeyRelatedField(
        queryset=ContactList.objects.all(), required=False, allow_null=True
    )

    def validate_file(self, upload):
        if upload.size > settings.AUDIENCE_IMPORT_MAX_BYTES:
            raise ApiValidationError(f"The file is larger than {settings.AUDIENCE_IMPORT_MAX_BYTES:,} bytes; split it.")
        return upload

    def validate(self, attrs):
        cl = attrs.get("contact_list")
        if cl is not None and cl.talent_id != attrs["talent"].pk:
            raise ApiValidationError({"contact_list": "That list belongs to another talent."})
        return attrs


class ImportBatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportBatch
        fields = [
            "id", "talent", "original_name", "consent_source", "consent_date", "default_region", "contact_list",
            "status", "failure", "total_rows", "created_count", "updated_count", "skipped_erased", "error_count",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "talent", "name", "created_at"]
        read_only_fields = fields


# --- shared pieces ------------------------------------------------------------------------------------------
def _partner(talent, partner_id):
    if partner_id is None:
        return None
    partner = Partner.objects.filter(pk=partner_id, talent=talent).first()
    if partner is None:
        raise ApiValidationError({"partner_id": "No such partner of this talent."})
    return partner


def _export_response(request, *, segment=None, contact_list=None):
    source = segment or contact_list
    _require(request, "export", source.talent_id)
    data = ExportInputSerializer(data=request.query_params)
    data.is_valid(raise_exception=True)
    try:
        export = exports.audience_export(
            talent=source.talent,
            actor=request.user,
            segment=segment,
            contact_list=contact_list,
            columns=data.validated_data["columns"],
            file_format=data.validated_data["file_format"],
            for_partner=data.validated_data["partner"],
            partner=_partner(source.talent, data.validated_data["partner_id"]),
            via="api",
            audience=data.validated_data["audience"],
            purpose=data.validated_data["purpose"],
        )
    except audience.AudienceError as exc:
        raise ApiValidationError(str(exc))
    except PermissionError as exc:
        raise PermissionDenied(str(exc))
    return export.download()


def _preview(qs) -> dict:
    """`count` is the reachable fans (active, consented); `breakdown` says why the others are not."""
    reachable = audience.reachable(qs)
    return {
        "count": reachable.count(),
        "breakdown": audience.audience_breakdown(qs),
        "sample": FanSampleSerializer(reachable.order_by("-id")[:SAMPLE_SIZE], many=True).data,
    }


# --- viewsets -------------------------------------------------------------------------------------------------
class ContactListViewSet(ScopedMixin, _TeamEdited, viewsets.ModelViewSet):
    serializer_class = ContactListSerializer

    def get_queryset(self):
        return self.scoped(ContactList.objects.select_related("talent")).annotate(_members=Count("memberships"))

    def perform_destroy(self, instance):
        _require(self.request, "edit_audience", instance.talent_id)
        audience.contact_list_delete(contact_list=instance, actor=self.request.user)

    def _fans(self, contact_list, data) -> tuple:
        fans = Fan.objects.filter(talent_id=contact_list.talent_id)
        unknown: list[str] = []
        if data.get("phones"):
            region = data.get("default_region") or settings.PHONENUMBER_DEFAULT_REGION
            wanted = []
            for raw in data["phones"]:
                try:
                    wanted.append(imports.normalise_phone(raw, region))
                except ValueError:
                    unknown.append(raw)
            if not wanted:
                # Nothing to look up: say so (issue 15: this was a 500 from an empty IN ()).
                raise ApiValidationError(
                    {
                        "phones": [
                            f"None of these could be read as a phone number (default region {region}): {unknown[:20]}"
                        ]
                    }
                )
            found = set(str(p) for p in fans.filter(phone__in=wanted).values_list("phone", flat=True))
            unknown += [p for p in wanted if p not in found]
            fans = fans.filter(phone__in=wanted)
        else:
            known = set(fans.filter(id__in=data["fan_ids"]).values_list("id", flat=True))
            unknown = [str(i) for i in data["fan_ids"] if i not in known]
            fans = fans.filter(id__in=data["fan_ids"])
        return fans, unknown

    def _change_members(self, request, service, result_key: str) -> Response:
        """add-fans / remove-fans: same input, same checks, a different service."""
        contact_list = self.get_object()
        _require(request, "edit_audience", contact_list.talent_id)
        data = FansInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fans, unknown = self._fans(contact_list, data.validated_data)
        changed = service(contact_list=contact_list, fans=fans, actor=request.user)
        return Response({result_key: changed, "not_found": unknown})

    @action(detail=True, methods=["post"], url_path="add-fans")
    def add_fans(self, request, pk=None):
        return self._change_members(request, audience.contact_list_add_fans, "added")

    @action(detail=True, methods=["post"], url_path="remove-fans")
    def remove_fans(self, request, pk=None):
        return self._change_members(request, audience.contact_list_remove_fans, "removed")

    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return _export_response(request, contact_list=self.get_object())


class SegmentViewSet(ScopedMixin, _TeamEdited, viewsets.ModelViewSet):
    serializer_class = SegmentSerializer

    def get_queryset(self):
        return self.scoped(Segment.objects.select_related("talent"))

    def destroy(self, request, *args, **kwargs):
        segment = self.get_object()
        _require(request, "edit_audience", segment.talent_id)
        try:
            audience.segment_delete(segment=segment, actor=request.user)
        except (audience.AudienceError, DjangoValidationError):
            return Response(
                {"detail": "The built-in segment 'all' cannot be deleted."}, status=status.HTTP_409_CONFLICT
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["get"])
    def count(self, request, pk=None):
        return Response(_preview(audience.segment_queryset(self.get_object())))

    @action(detail=False, methods=["post"])
    def preview(self, request):
        data = PreviewInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        talent = data.validated_data["talent"]
        try:
            definition = validate_definition(data.validated_data["definition"], talent_id=talent.pk)
        except SegmentRuleError as exc:
            raise ApiValidationError({"definition": str(exc)})
        count, sample = audience.segment_preview(talent=talent, definition=definition, sample_size=SAMPLE_SIZE)
        return Response(
            {
                "count": count,
                "breakdown": audience.segment_counts(talent=talent, definition=definition),
                "sample": FanSampleSerializer(sample, many=True).data,
            }
        )

    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return _export_response(request, segment=self.get_object())


class TagViewSet(ScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = TagSerializer

    def get_queryset(self):
        return self.scoped(Tag.objects.all())


class ImportBatchViewSet(ScopedMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ImportBatchSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return self.scoped(ImportBatch.objects.all())

    def create(self, request, *args, **kwargs):
        data = ImportInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            batch = imports.import_batch_create(
                talent=v["talent"],
                file=v["file"],
                original_name=v["file"].name,
                consent_source=v["consent_source"],
                consent_date=v["consent_date"],
                default_region=v["default_region"],
                contact_list=v.get("contact_list"),
                actor=request.user,
            )
        except ImportRefused as exc:
            raise ApiValidationError(str(exc))
        except PermissionError as exc:
            raise PermissionDenied(str(exc))
        batch = imports.import_batch_start(batch=batch)
        # 201: imported in the request; 202: a big file queued (poll GET /api/imports/<id>/ for its
        # status); 400: refused as a whole, nothing landed.
        code = {
            ImportBatch.Status.COMPLETED: status.HTTP_201_CREATED,
            ImportBatch.Status.FAILED: status.HTTP_400_BAD_REQUEST,
        }.get(batch.status, status.HTTP_202_ACCEPTED)
        return Response(ImportBatchSerializer(batch).data, status=code)

    @action(detail=True, methods=["get"])
    def errors(self, request, pk=None):
        batch = self.get_object()
        if not batch.error_report:
            raise NotFound("This import had no bad rows.")
        response = HttpResponse(batch.error_report, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-errors.csv"'
        return response


def register(router) -> None:
    router.register("contact-lists", ContactListViewSet, basename="contact-list")
    router.register("segments", SegmentViewSet, basename="segment")
    router.register("tags", TagViewSet, basename="tag")
    router.register("imports", ImportBatchViewSet, basename="import-batch")
