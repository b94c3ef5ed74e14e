"""v1 shapes: Lists, tags, segments, members and exports."""

from __future__ import annotations

from rest_framework import serializers

from messaging.audience.exports import EXPORT_AUDIENCES, EXPORT_COLUMNS, EXPORT_FORMATS
from messaging.models import ContactList, Segment, Tag


class ContactListSerializer(serializers.ModelSerializer):
    member_count = serializers.SerializerMethodField()

    class Meta:
        model = ContactList
        fields = ["id", "name", "description", "member_count", "created_at"]
        read_only_fields = ["id", "created_at", "member_count"]

    def get_member_count(self, contact_list: ContactList) -> int:
        annotated = getattr(contact_list, "_members", None)
        return contact_list.memberships.count() if annotated is None else annotated


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class SegmentSerializer(serializers.ModelSerializer):
    definition = serializers.JSONField(
        help_text='Rules, e.g. {"all": [{"field": "city", "op": "eq", "value": "Austin"}]}.'
    )

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "definition", "is_builtin", "created_at", "updated_at"]
        read_only_fields = ["id", "is_builtin", "created_at", "updated_at"]


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class MembersInputSerializer(serializers.Serializer):
    fan_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**62), min_length=1, max_length=10_000
    )


class MembersResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField()
    not_found = serializers.ListField(child=serializers.IntegerField())


class ExportQuerySerializer(serializers.Serializer):
    columns = serializers.CharField(required=False, default="", help_text="Comma-separated; empty = the default set.")
    file_format = serializers.ChoiceField(choices=EXPORT_FORMATS, required=False, default="csv")
    partner = serializers.BooleanField(required=False, default=False, help_text="Set by partner_id.")
    partner_id = serializers.IntegerField(
        required=False, default=None, allow_null=True, help_text="The talent's partner the file is for."
    )
    # Reachable fans unless asked; opted-out fans (a suppression list) need a stated purpose.
    audience = serializers.ChoiceField(choices=list(EXPORT_AUDIENCES), required=False, default="reachable")
    purpose = serializers.CharField(required=False, default="", max_length=200)

    def validate_columns(self, value: str):
        columns = [c.strip() for c in value.split(",") if c.strip()]
        unknown = [c for c in columns if c not in EXPORT_COLUMNS]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown column {unknown[0]!r}; choose from {', '.join(EXPORT_COLUMNS)}."
            )
        return columns or None
