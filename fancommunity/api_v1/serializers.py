"""v1 input and output shapes. Inputs validate; services act; outputs render (STYLE.md 10).

No serializer takes a talent: v1 acts for the token's talent (or the console's current one), so a
client can neither name nor guess another talent.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models as db
from django.db.models.functions import Cast
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers

from accounts.models import Fan, Talent
from accounts.outbox import CATALOGUE as WEBHOOK_CATALOGUE
from accounts.outbox import WebhookEndpoint
from consent.models import ConsentRecord
from messaging.audience.exports import EXPORT_AUDIENCES, EXPORT_COLUMNS, EXPORT_FORMATS
from messaging.campaigns.render import validate_body
from messaging.conversations.inbox import FOLDERS as INBOX_FOLDERS
from messaging.conversations.models import Conversation
from messaging.conversations.services import MAX_REPLY_CHARS
from messaging.conversations.services import thread as conversation_thread
from messaging.models import Campaign, ContactList, OutboundMessage, Segment, Tag


class TalentSerializer(serializers.ModelSerializer):
    sender_number = serializers.CharField(read_only=True)

    class Meta:
        model = Talent
        fields = [
            "id", "slug", "display_name", "program_name", "sender_number", "default_time_zone",
            "parts_per_second", "approval_threshold", "daily_frequency_cap", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class FanSerializer(serializers.ModelSerializer):
    phone = serializers.SerializerMethodField(help_text="E.164; null once erased.")
    email = serializers.CharField(read_only=True, help_text="An address, or empty.")

    class Meta:
        model = Fan
        fields = [
            "id", "phone", "first_name", "last_name", "email", "birth_date", "city", "region", "postal_code",
            "country", "time_zone", "status", "shares_with_partners", "source", "joined_at", "opted_out_at",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_phone(self, fan: Fan) -> str | None:
        return str(fan.phone) if fan.phone else None


# --- the fan list's fast path ---------------------------------------------------------------
# A page of 1,000 fans through FanSerializer cost ~1 s (DRF's per-field machinery on each of 18
# fields of each row: bench_api at 1,000,000 fans). Lists build the same dicts from .values()
# rows instead; tests/api/test_fans.py compares both for fans in every state, so the shape cannot
# drift: add a field to FanSerializer and the comparison fails until it is added here too.
_DATE = serializers.DateField()


def fan_values(queryset):
    """The queryset as the rows fan_dicts reads (the phone as its stored E.164 text: no parsing)."""
    return queryset.values(
        "id", "first_name", "last_name", "email", "birth_date", "city", "region", "postal_code", "country",
        "time_zone", "status", "shares_with_partners", "source", "joined_at", "opted_out_at", "created_at",
        "updated_at", phone_text=Cast("phone", db.CharField()),
    )  # fmt: skip


def fan_dicts(rows) -> list[dict]:
    """FanSerializer(fans, many=True).data from fan_values() rows: the same keys, order and values.

    Times go through DRF's own DateTimeField (its zone and "Z" rules), given the current zone once:
    looking it up per value (asgiref's Local) was most of the remaining cost."""
    stamp = serializers.DateTimeField(default_timezone=timezone.get_current_timezone()).to_representation
    day = _DATE.to_representation
    return [
        {
            "id": row["id"],
            "phone": row["phone_text"] or None,
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "email": row["email"],
            "birth_date": None if row["birth_date"] is None else day(row["birth_date"]),
            "city": row["city"],
            "region": row["region"],
            "postal_code": row["postal_code"],
            "country": row["country"],
            "time_zone": row["time_zone"],
            "status": row["status"],
            "shares_with_partners": row["shares_with_partners"],
            "source": row["source"],
            "joined_at": stamp(row["joined_at"]),
            "opted_out_at": stamp(row["opted_out_at"]),
            "created_at": stamp(row["created_at"]),
            "updated_at": stamp(row["updated_at"]),
        }
        for row in rows
    ]


PROFILE_INPUT = [
    "first_name",
    "last_name",
    "email",
    "birth_date",
    "city",
    "region",
    "postal_code",
    "country",
    "time_zone",
]


class FanProfileSerializer(serializers.ModelSerializer):
    """The profile a team may correct (PATCH). Phone, status and consent change only by their own actions."""

    class Meta:
        model = Fan
        fields = PROFILE_INPUT

    def validate_country(self, value: str) -> str:
        if value and (len(value) != 2 or not value.isalpha()):
            raise serializers.ValidationError("A two-letter ISO country code, e.g. US.")
        return value.upper()


class ConsentEvidenceSerializer(serializers.Serializer):
    source = serializers.CharField(
        max_length=150, help_text="Where and how the fan agreed, e.g. 'store checkout, SMS box ticked'."
    )
    collected_at = serializers.DateTimeField(help_text="When the fan agreed.")
    ip = serializers.IPAddressField(required=False, allow_null=True, help_text="The fan's address, if known.")
    user_agent = serializers.CharField(max_length=400, required=False, allow_blank=True, default="")
    shares_with_partners = serializers.BooleanField(
        default=False, help_text="Only if the fan ticked the separate, optional partner-sharing box."
    )


class FanCreateSerializer(FanProfileSerializer):
    phone = PhoneNumberField()
    consent = ConsentEvidenceSerializer(help_text="Messaging consent the fan gave elsewhere: required.")

    class Meta(FanProfileSerializer.Meta):
        fields = ["phone", *PROFILE_INPUT, "consent"]
        extra_kwargs = {"time_zone": {"required": False}}


class FanFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Fan.Status.choices, required=False)
    list = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="Members of this list.")
    tag = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="Fans with this tag.")
    segment = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="Fans in this segment.")
    phone = PhoneNumberField(required=False, help_text="Exact E.164 number.")
    joined_after = serializers.DateTimeField(required=False)
    joined_before = serializers.DateTimeField(required=False)


class OptOutSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class EraseSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=150, help_text="Why (e.g. 'deletion request by email, ticket 4411'): kept in the audit log."
    )


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


_LIVE_LINK = None


def mask_links(body: str) -> str:
    """Our own links in a stored text (tracked /l/ links, signup and data-page links) are live:
    a click through the API would count as the fan's, and a data-page link opens their data."""
    global _LIVE_LINK
    if _LIVE_LINK is None:
        _LIVE_LINK = re.compile(re.escape(settings.PUBLIC_BASE_URL.rstrip("/")) + r"/\S*")
    return _LIVE_LINK.sub("[link]", body)


class MessageSerializer(serializers.ModelSerializer):
    body = serializers.SerializerMethodField(help_text="The text sent; our own links replaced by [link].")
    sms_parts = serializers.IntegerField(source="parts", read_only=True)

    class Meta:
        model = OutboundMessage
        fields = [
            "id", "kind", "campaign", "fan", "status", "body", "sms_parts", "error_code", "error_message",
            "created_at", "sent_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_body(self, message: OutboundMessage) -> str:
        return mask_links(message.body)


class MessageFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OutboundMessage.Status.choices, required=False)
    campaign = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    fan = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    kind = serializers.ChoiceField(choices=OutboundMessage.Kind.choices, required=False)


class ConsentRecordSerializer(serializers.ModelSerializer):
    terms_version = serializers.IntegerField(source="terms.version", read_only=True, allow_null=True, default=None)
    privacy_version = serializers.IntegerField(source="privacy.version", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ConsentRecord
        # No IP address nor device: the evidence a client needs is what, when, how and which terms.
        fields = [
            "id", "fan", "purpose", "action", "method", "terms_version", "privacy_version", "disclosure",
            "evidence", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class ConsentFilterSerializer(serializers.Serializer):
    fan = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    purpose = serializers.ChoiceField(choices=ConsentRecord.Purpose.choices, required=False)


# --- conversations ------------------------------------------------------------------------------
class ConversationSerializer(serializers.ModelSerializer):
    assignee_name = serializers.SerializerMethodField(help_text="The assignee's user name, or null.")
    unread = serializers.BooleanField(source="unread_team", read_only=True, help_text="No team member opened it since.")

    class Meta:
        model = Conversation
        fields = [
            "id", "fan", "status", "assignee", "assignee_name", "waiting_since", "snoozed_until", "campaign",
            "last_message_at", "last_inbound_at", "last_reply_id", "last_reply_at", "has_media", "blocked", "unread",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_assignee_name(self, conversation: Conversation) -> str | None:
        return conversation.assignee.get_username() if conversation.assignee_id else None


class ThreadItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["in", "out", "note", "event"],
        help_text="in: the fan's text; out: a text to the fan; note: a private note; event: assigned, done ...",
    )
    id = serializers.IntegerField(help_text="The id of the text, note or event (each kind counts on its own).")
    at = serializers.DateTimeField()
    body = serializers.CharField(help_text="The text (our own links replaced by [link] in texts to the fan).")
    who = serializers.CharField(help_text="'Fan', the team member, the campaign, or empty.")
    detail = serializers.CharField(help_text="A text's delivery status or keyword action, or empty.")


class ConversationDetailSerializer(ConversationSerializer):
    thread = serializers.SerializerMethodField(help_text="The latest 200 items, oldest first.")

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "thread"]
        read_only_fields = fields

    @extend_schema_field(ThreadItemSerializer(many=True))
    def get_thread(self, conversation: Conversation) -> list[dict]:
        items = []
        for item in conversation_thread(conversation):
            body = mask_links(item.body) if item.kind == "out" else item.body
            items.append(
                {
                    "kind": item.kind,
                    "id": item.obj.pk,
                    "at": item.at,
                    "body": body,
                    "who": item.who,
                    "detail": item.detail,
                }
            )
        return ThreadItemSerializer(items, many=True).data


class ConversationFilterSerializer(serializers.Serializer):
    folder = serializers.ChoiceField(
        choices=[key for key, _title in INBOX_FOLDERS],
        required=False,
        help_text="As the console's inbox folders: unassigned and mine are open conversations; mine is the "
        "token's creator's (or yours, signed in).",
    )
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    assignee = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="A member's user id.")
    unassigned = serializers.BooleanField(required=False, help_text="Only conversations nobody is assigned to.")
    fan = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    campaign = serializers.IntegerField(
        required=False, min_value=1, max_value=2**62, help_text="Replies to this campaign."
    )
    list = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="Fans in this list.")
    tag = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="Fans with this tag.")
    has_media = serializers.BooleanField(required=False, help_text="The fan sent a photo or other media.")
    unread = serializers.BooleanField(required=False, help_text="Not opened by the team since the fan wrote.")
    waiting_hours = serializers.IntegerField(
        required=False, min_value=1, max_value=24 * 365, help_text="The fan has waited at least this many hours."
    )
    q = serializers.CharField(
        required=False, max_length=200, help_text="Words the fan wrote, their name, or their number."
    )


class ReplySerializer(serializers.Serializer):
    body = serializers.CharField(
        max_length=MAX_REPLY_CHARS,
        help_text="The text. {first_name}, {last_name}, {city}, {talent} and {program} are filled from the "
        "fan's profile; one without a value is refused (409), never sent with a hole.",
    )
    then = serializers.ChoiceField(
        choices=[Conversation.Status.PENDING, Conversation.Status.DONE],
        default=Conversation.Status.PENDING,
        help_text="After the reply: wait on the fan (pending), or done.",
    )
    seen_reply_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**62,
        help_text="The conversation's last_reply_id when you read it (null: none yet). If someone replied since, "
        "the answer is 409 answered_meanwhile and nothing is sent. Omit it to send regardless.",
    )


class ReplyResultSerializer(serializers.Serializer):
    message = MessageSerializer()
    conversation = ConversationSerializer()


class AssignSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(
        allow_null=True, min_value=1, max_value=2**62, help_text="A team member's user id; null unassigns."
    )


# --- webhook endpoints --------------------------------------------------------------------------
class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.CharField(max_length=500, help_text="An https:// address on the public internet.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(WEBHOOK_CATALOGUE)),
        required=False,
        min_length=1,
        help_text="Event types to receive (see /api/v1/webhook-event-types/). Default: every event except "
        "the opt-in ones (message.status).",
    )
    previous_secret_until = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="During a rotation, the previous secret also signs until then."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "url", "description", "events", "is_active", "disabled_reason", "failing_since",
            "previous_secret_until", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "disabled_reason", "failing_since", "previous_secret_until", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret: shown in this answer only.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret: shown in this answer only.")
    previous_secret_until = serializers.DateTimeField(help_text="The previous secret also signs until then.")


class WebhookEventTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    opt_in_only = serializers.BooleanField(help_text="Never subscribed by default (high volume).")
    sample = serializers.DictField(help_text="The whole body a receiver gets: type, timestamp and data.")
