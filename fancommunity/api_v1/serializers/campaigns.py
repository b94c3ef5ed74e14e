"""v1 shapes: Campaigns: the draft, its estimate, pause and report."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.campaigns.render import validate_body
from messaging.models import Campaign, ContactList, Segment


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "example": "19:30"}
)
class WallClockTimeField(serializers.TimeField):
    """A time of day without a zone ("19:30"): OpenAPI's format "time" would demand an offset."""


@extend_schema_field({"type": "string", "description": "An http(s) URL, or empty."})
class OptionalUrlField(serializers.URLField):
    """Blank allowed: OpenAPI's format "uri" would refuse the empty string a campaign without media has."""


class CampaignSerializer(serializers.ModelSerializer):
    media_url = OptionalUrlField(required=False, allow_blank=True, max_length=200)
    local_time = WallClockTimeField(
        required=False, allow_null=True, format="%H:%M", help_text="Wall-clock time in each fan's zone."
    )

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "body", "media_url", "status", "include_lists", "exclude_lists", "include_segments",
            "exclude_segments", "schedule_mode", "send_at", "local_date", "local_time", "late_policy",
            "relevance_hours", "estimated_recipients", "recipients_count", "suppressed_count", "paused_reason",
            "started_at", "finished_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = [
            "id", "status", "estimated_recipients", "recipients_count", "suppressed_count", "paused_reason",
            "started_at", "finished_at", "created_at", "updated_at",
        ]  # fmt: skip
        extra_kwargs = {
            "include_lists": {"required": False},
            "exclude_lists": {"required": False},
            "include_segments": {"required": False},
            "exclude_segments": {"required": False},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        talent = self.context.get("talent")
        if talent is not None:
            # Another talent's list or segment id reads as "does not exist".
            for name, model in (
                ("include_lists", ContactList),
                ("exclude_lists", ContactList),
                ("include_segments", Segment),
                ("exclude_segments", Segment),
            ):
                self.fields[name].child_relation.queryset = model.objects.filter(talent=talent)

    def validate_body(self, value: str) -> str:
        try:
            validate_body(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages)
        return value

    def validate(self, attrs):
        if self.instance is not None and not self.instance.is_editable:
            raise serializers.ValidationError("Only a draft can be changed.")
        return attrs


class EstimateSerializer(serializers.Serializer):
    preview = serializers.CharField(help_text="The text as the first recipient gets it (links shown as examples).")
    encoding = serializers.CharField()
    sms_parts = serializers.IntegerField()
    characters = serializers.IntegerField()
    recipients = serializers.IntegerField()
    parts_total = serializers.IntegerField()
    cost = serializers.FloatField()
    currency = serializers.CharField()


class PauseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="Paused through the API.")


class PollAnswerFiguresSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    votes = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="Of all votes, 0-1; null while nobody voted.")


class PollThemeSerializer(serializers.Serializer):
    word = serializers.CharField()
    replies = serializers.IntegerField()


class PollFiguresSerializer(serializers.Serializer):
    """The campaign's poll, as its console page and report show it (issue 13)."""

    poll_id = serializers.IntegerField()
    question = serializers.CharField()
    total_votes = serializers.IntegerField()
    answers = PollAnswerFiguresSerializer(many=True)
    free_text_replies = serializers.IntegerField()
    themes = PollThemeSerializer(many=True)
    themes_counted_at = serializers.DateTimeField(allow_null=True)
    themes_refreshing = serializers.BooleanField(help_text="The themes are being recounted: ask again in a minute.")


class ReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    recipients = serializers.IntegerField()
    suppressed = serializers.IntegerField()
    pending = serializers.IntegerField()
    uncertain = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    failed_by_reason = serializers.DictField(child=serializers.IntegerField())
    clicks = serializers.IntegerField()
    click_rate = serializers.FloatField()
    replies = serializers.IntegerField()
    poll = PollFiguresSerializer(required=False, help_text="Only for a campaign that asks a poll question.")
