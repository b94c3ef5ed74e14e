"""v1 shapes: keyword automations and drops (messaging/automations, issue 14).

A drop's codes are never in these shapes: who got which code leaves only through the box office's
audited export in the console (`drops.drop_codes_export`); the API shows how many there are.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from messaging.automations import drops, keywords
from messaging.automations.drop_models import Drop
from messaging.automations.keyword_models import Keyword
from messaging.models import ContactList, Tag

ALIASES_MAX = Keyword._meta.get_field("aliases").max_length
CAPACITY = {"required": False, "allow_null": True, "min_value": 1, "max_value": 2_000_000_000}


def _field_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


def _merged(serializer: serializers.ModelSerializer, attrs: dict, name: str):
    """The value a PATCH leaves: the one sent, else the stored one."""
    if name in attrs:
        return attrs[name]
    if serializer.instance is None:
        return None
    value = getattr(serializer.instance, name)
    return list(value.all()) if name == "tags" else value


class KeywordSerializer(serializers.ModelSerializer):
    word = serializers.CharField(max_length=keywords.MAX_WORD, help_text=Keyword._meta.get_field("word").help_text)
    state = serializers.SerializerMethodField(help_text="live, paused, not_started, ended or full.")
    share_link = serializers.SerializerMethodField(
        help_text="An sms: link with the keyword typed to the talent's number (empty without a number)."
    )

    class Meta:
        model = Keyword
        fields = [
            "id", "word", "aliases", "reply", "add_to_list", "tags", "drop", "starts_at", "ends_at", "capacity",
            "full_reply", "is_paused", "state", "uses_count", "joins_count", "entrants_count", "share_link",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "is_paused", "uses_count", "joins_count", "entrants_count", "created_at"]
        extra_kwargs = {"capacity": CAPACITY, "tags": {"required": False}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        talent = self.context.get("talent")
        if talent is not None:
            # Another talent's list, tag or drop id reads as "does not exist".
            self.fields["add_to_list"].queryset = ContactList.objects.filter(talent=talent)
            self.fields["tags"].child_relation.queryset = Tag.objects.filter(talent=talent)
            self.fields["drop"].queryset = Drop.objects.filter(talent=talent)

    def get_state(self, keyword: Keyword) -> str:
        return keyword.state()

    def get_share_link(self, keyword: Keyword) -> str:
        return keywords.share_link(keyword)

    def validate(self, attrs):
        # The console's KeywordForm.clean, rule for rule; the words through the automations service.
        talent = self.context["talent"]
        word = _merged(self, attrs, "word")
        aliases = _merged(self, attrs, "aliases") or ""
        try:
            words = keywords.keyword_words_clean(
                talent=talent, word=word, aliases=aliases, keyword_id=self.instance.pk if self.instance else None
            )
        except DjangoValidationError as exc:
            raise _field_errors(exc)
        attrs["word"], attrs["aliases"] = words[0], ", ".join(words[1:])
        if len(attrs["aliases"]) > ALIASES_MAX:
            # Stored as "a, b, c": the list may come out longer than it was typed ("a,b").
            raise serializers.ValidationError({"aliases": f"Keep the aliases under {ALIASES_MAX} characters."})
        starts, ends = _merged(self, attrs, "starts_at"), _merged(self, attrs, "ends_at")
        if starts and ends and ends <= starts:
            raise serializers.ValidationError({"ends_at": "The end must come after the start."})
        if not any(_merged(self, attrs, name) for name in ("reply", "add_to_list", "tags", "drop")):
            raise serializers.ValidationError("Give the keyword something to do: a reply, a list, tags or a drop.")
        return attrs


class DropSerializer(serializers.ModelSerializer):
    release_status = serializers.CharField(
        source="campaign.status", read_only=True, allow_null=True, default=None, help_text="The release campaign's."
    )
    entrants = serializers.SerializerMethodField(help_text="Fans in the drop (the release's audience).")
    waitlisted = serializers.SerializerMethodField(help_text="Fans on its waitlist.")
    codes_total = serializers.SerializerMethodField(help_text="Codes uploaded (the codes themselves are not shown).")
    codes_given = serializers.SerializerMethodField(help_text="Codes given to fans so far.")

    class Meta:
        model = Drop
        fields = [
            "id", "name", "confirmation", "release_text", "release_at", "release_zone", "made_it", "capacity",
            "waitlist", "full_text", "fallback_text", "is_paused", "campaign", "release_status", "entrants_list",
            "entrants", "waitlisted", "codes_total", "codes_given", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "is_paused", "campaign", "entrants_list", "created_at"]
        extra_kwargs = {
            "capacity": CAPACITY,
            "campaign": {"help_text": "The release campaign (/api/v1/campaigns/{id}/)."},
            "entrants_list": {"help_text": "The list of entrants (/api/v1/lists/{id}/), managed by the drop."},
        }

    def _counts(self, drop: Drop) -> dict[str, int]:
        cache = self.context.setdefault("_drop_counts", {})
        if drop.pk not in cache:
            codes = drop.codes.all()
            cache[drop.pk] = {
                **drops.drop_counts(drop=drop),
                "codes_total": codes.count(),
                "codes_given": codes.filter(fan__isnull=False).count(),
            }
        return cache[drop.pk]

    def get_entrants(self, drop: Drop) -> int:
        return self._counts(drop)["entered"]

    def get_waitlisted(self, drop: Drop) -> int:
        return self._counts(drop)["waitlisted"]

    def get_codes_total(self, drop: Drop) -> int:
        return self._counts(drop)["codes_total"]

    def get_codes_given(self, drop: Drop) -> int:
        return self._counts(drop)["codes_given"]

    def validate_release_text(self, value: str) -> str:
        try:
            drops.drop_texts_clean(release_text=value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict.get("release_text", exc.messages))
        return value

    def validate(self, attrs):
        # The console's DropForm.clean; drop_save checks the release text and time again.
        release_at = attrs.get("release_at")
        if release_at and self.instance is None and release_at <= timezone.now():
            raise serializers.ValidationError({"release_at": "Pick a release time in the future."})
        if _merged(self, attrs, "waitlist") and _merged(self, attrs, "capacity") is None:
            raise serializers.ValidationError({"waitlist": "A waitlist needs a capacity."})
        return attrs
