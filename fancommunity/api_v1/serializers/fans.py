"""v1 shapes: Talents, fans (the list's fast path too) and consent records."""

from __future__ import annotations

from django.db import connections
from django.db import models as db
from django.db.models import Func
from django.db.models.functions import Cast
from django.utils import timezone
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers

from accounts.models import Fan, Talent
from consent.models import ConsentRecord


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
STAMPS = ("joined_at", "opted_out_at", "created_at", "updated_at")


class UtcIsoText(Func):
    """A timestamptz as the text DRF's DateTimeField writes in UTC: "2026-12-01T19:30:00Z", with
    ".123456" before the Z only when there are microseconds (datetime.isoformat's rule).

    Once the rows were dicts, a page's time went to parsing 4,000 timestamps in psycopg and
    formatting them again in DRF (a third of the server's time on a 1,000-fan page); PostgreSQL
    writes the text in the same pass that reads the row. PostgreSQL only: elsewhere, and whenever
    the current zone is not UTC, fan_values reads datetimes and fan_dicts formats them."""

    output_field = db.CharField()
    template = (
        "(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        "CASE WHEN date_trunc('second', %(expressions)s) = %(expressions)s THEN '' "
        "ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', '.US') END || 'Z')"
    )


class IsoDateText(Func):
    output_field = db.CharField()
    template = "to_char(%(expressions)s, 'YYYY-MM-DD')"


def _text_in_sql(queryset) -> bool:
    return connections[queryset.db].vendor == "postgresql" and timezone.get_current_timezone_name() == "UTC"


def fan_values(queryset):
    """The queryset as the rows fan_dicts reads (the phone as its stored E.164 text: no parsing;
    on PostgreSQL in UTC, the times and the birth date as their API text too)."""
    fields = [
        "id", "first_name", "last_name", "email", "city", "region", "postal_code", "country", "time_zone",
        "status", "shares_with_partners", "source",
    ]  # fmt: skip
    texts: dict = {"phone_text": Cast("phone", db.CharField())}
    if _text_in_sql(queryset):
        texts |= {"birth_date_text": IsoDateText("birth_date")}
        texts |= {f"{name}_text": UtcIsoText(name) for name in STAMPS}
    else:
        fields += ["birth_date", *STAMPS]
    return queryset.values(*fields, **texts)


def fan_dicts(rows) -> list[dict]:
    """FanSerializer(fans, many=True).data from fan_values() rows: the same keys, order and values.

    Times come as text from PostgreSQL (UtcIsoText) or go through DRF's own DateTimeField (its zone
    and "Z" rules), given the current zone once: looking it up per value (asgiref's Local) was most
    of the remaining cost."""
    rows = list(rows)
    if rows and "created_at_text" in rows[0]:
        return [_dict(row, row["birth_date_text"], *(row[f"{name}_text"] for name in STAMPS)) for row in rows]
    stamp = serializers.DateTimeField(default_timezone=timezone.get_current_timezone()).to_representation
    day = _DATE.to_representation
    return [
        _dict(
            row,
            None if row["birth_date"] is None else day(row["birth_date"]),
            *(stamp(row[name]) for name in STAMPS),
        )
        for row in rows
    ]


def _dict(row: dict, birth_date, joined_at, opted_out_at, created_at, updated_at) -> dict:
    return {
        "id": row["id"],
        "phone": row["phone_text"] or None,
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "email": row["email"],
        "birth_date": birth_date,
        "city": row["city"],
        "region": row["region"],
        "postal_code": row["postal_code"],
        "country": row["country"],
        "time_zone": row["time_zone"],
        "status": row["status"],
        "shares_with_partners": row["shares_with_partners"],
        "source": row["source"],
        "joined_at": joined_at,
        "opted_out_at": opted_out_at,
        "created_at": created_at,
        "updated_at": updated_at,
    }


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
