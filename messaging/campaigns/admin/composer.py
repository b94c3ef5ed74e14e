"""The campaign composer: the message box with its phone preview and live figures, the audience
picker (include/exclude lists and segments), the form that validates them, the talent's text
settings, and the JSON the page refreshes its figures from."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from unfold.widgets import UnfoldAdminTextareaWidget

from accounts import current_talent, permissions
from accounts.models import Talent
from messaging.campaigns.render import MERGE_FIELDS, validate_body
from messaging.campaigns.services import (
    audience_choices,
    audience_estimate,
)
from messaging.models import Campaign, ContactList, Segment

AUDIENCE_FIELDS = ["include_lists", "include_segments", "exclude_lists", "exclude_segments"]
PICK_INCLUDE, PICK_EXCLUDE = "in", "out"


class ComposerWidget(UnfoldAdminTextareaWidget):
    """The message box with the phone preview, the counter, recipients and cost beside it.

    `panel` (set by the form) holds the figures rendered on the server, so the page shows them
    without JavaScript; composer.js refreshes them on every keystroke through the estimate URL.
    """

    template_name = "messaging/widgets/composer.html"
    panel: dict | None = None

    class Media:
        css = {"all": ["console/composer.css"]}
        js = ["console/composer.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["panel"] = self.panel or {}
        return context


class AudiencePickerWidget(forms.Widget):
    """One compact table: each list and segment with its reachable size and Include / Exclude / -."""

    template_name = "messaging/widgets/audience_picker.html"
    choices: list[dict] = []

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        value = value or {}
        rows = []
        for choice in self.choices:
            kind = "lists" if choice["kind"] == "list" else "segments"
            picked = ""
            if choice["id"] in value.get(f"include_{kind}", ()):
                picked = PICK_INCLUDE
            elif choice["id"] in value.get(f"exclude_{kind}", ()):
                picked = PICK_EXCLUDE
            rows.append({**choice, "input": f"{name}-{choice['kind'][0]}-{choice['id']}", "picked": picked})
        context["widget"]["rows"] = rows
        return context

    def value_from_datadict(self, data, files, name):
        picked: dict[str, list[int]] = {key: [] for key in AUDIENCE_FIELDS}
        for key, value in data.items():
            if not key.startswith(f"{name}-") or value not in (PICK_INCLUDE, PICK_EXCLUDE):
                continue
            _, kind, pk = key.rsplit("-", 2)
            if kind not in ("l", "s") or not pk.isdigit():
                continue
            side = "include" if value == PICK_INCLUDE else "exclude"
            picked[f"{side}_{'lists' if kind == 'l' else 'segments'}"].append(int(pk))
        return picked

    def value_omitted_from_data(self, data, files, name):
        return False


class AudienceField(forms.Field):
    widget = AudiencePickerWidget

    def to_python(self, value):
        return value or {key: [] for key in AUDIENCE_FIELDS}


class CampaignForm(forms.ModelForm):
    media_url = forms.URLField(
        required=False, assume_scheme="https", help_text="An image sent as MMS (or upload one below)."
    )
    audience = AudienceField(
        required=False,
        label="Audience",
        help_text="Include lists and segments (a fan in several gets one text); exclude others. "
        "Nothing included: every active fan. Sizes count reachable fans (active, consented).",
    )

    class Meta:
        model = Campaign
        fields = [
            "talent",
            "name",
            "body",
            "media_url",
            "media_file",
            *AUDIENCE_FIELDS,
            "schedule_mode",
            "send_at",
            "local_date",
            "local_time",
            "late_policy",
            "ignore_quiet_hours",
            "relevance_hours",
        ]
        widgets = {
            "body": ComposerWidget(attrs={"rows": 6, "data-segment-counter": "1"}),
            "schedule_mode": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        talent = self._talent()
        if "audience" in self.fields:
            widget = self.fields["audience"].widget
            widget.choices = audience_choices(talent=talent) if talent else []
            if self.instance.pk:
                self.initial["audience"] = {
                    name: list(getattr(self.instance, name).values_list("pk", flat=True)) for name in AUDIENCE_FIELDS
                }
        if "body" in self.fields:
            widget = ComposerWidget(attrs={"rows": 6, "data-segment-counter": "1"})
            widget.panel = self._panel(talent)
            self.fields["body"].widget = widget
            self.fields["body"].help_text = (
                "Merge fields: " + ", ".join(f"{{{f}}}" for f in MERGE_FIELDS) + "; a tracked link: "
                "{link:https://example.com/tickets}. The brand prefix and opt-out line are added when it is sent."
            )

    estimate_url = ""
    settings_url = ""

    def _panel(self, talent: Talent | None) -> dict:
        """The figures beside the message box, from what was posted (a re-shown form) or saved."""
        panel = {"estimate_url": self.estimate_url, "settings_url": self.settings_url, "talent": talent}
        if talent is None:
            return panel
        if self.is_bound:
            body = self.data.get("body", "")[:5000]
            picked = AudiencePickerWidget().value_from_datadict(self.data, None, self.add_prefix("audience"))
        else:
            body = self.instance.body or ""
            picked = self.initial.get("audience") or {}
        try:
            estimate = audience_estimate(
                talent=talent,
                body=body,
                include_lists=picked.get("include_lists", []),
                include_segments=picked.get("include_segments", []),
                exclude_lists=picked.get("exclude_lists", []),
                exclude_segments=picked.get("exclude_segments", []),
            )
        except ValidationError:
            return panel
        panel["estimate"] = estimate
        return panel

    def _talent(self) -> Talent | None:
        talent_id = self.initial.get("talent") or self.instance.talent_id
        if not talent_id and "talent" in self.fields:
            talent_id = self.fields["talent"].initial  # pinned to the current talent (pin_talent)
        if not talent_id and self.data.get("talent", "").isdigit():
            talent_id = int(self.data["talent"])
        if isinstance(talent_id, Talent):
            return talent_id
        return Talent.objects.filter(pk=talent_id).first() if talent_id else None

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        try:
            validate_body(body)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
        return body

    def clean(self):
        data = super().clean()
        talent = data.get("talent")  # pinned to the current talent by TalentScopedAdmin when one is current
        if talent is not None and "audience" in self.fields:
            picked = data.get("audience") or {}
            for name in AUDIENCE_FIELDS:
                model = ContactList if name.endswith("lists") else Segment
                ids = set(picked.get(name, ()))
                found = model.objects.filter(talent=talent, pk__in=ids)
                if len(found) != len(ids):  # a forged id, or another talent's list
                    self.add_error("audience", f"Not lists or segments of {talent}.")
                data[name] = found
        elif talent is not None:
            for name in AUDIENCE_FIELDS:
                foreign = [str(x) for x in data.get(name) or [] if x.talent_id != talent.pk]
                if foreign:
                    self.add_error(name, f"Not lists or segments of {talent}: {', '.join(foreign)}.")
        if data.get("media_url") and data.get("media_file"):
            self.add_error("media_file", "Give an image URL or upload an image, not both.")
        return data


class TextSettingsForm(forms.ModelForm):
    class Meta:
        model = Talent
        fields = ["campaign_prefix", "opt_out_line", "opt_out_line_when"]
        widgets = {"opt_out_line_when": forms.RadioSelect}


def talent_zone(request, obj: Campaign | None) -> zoneinfo.ZoneInfo | None:
    """The zone the page's date-times are shown and parsed in: the campaign's talent's."""
    talent_id = obj.talent_id if obj is not None else current_talent.current_id(request)
    if not talent_id:  # a superuser looking at all talents picks one in the form
        talent_id = request.POST.get("talent") or request.GET.get("talent")
    if not talent_id:
        ids = permissions.talent_ids(request.user, "compose")
        if ids is not None and len(ids) == 1:
            talent_id = next(iter(ids))
    if not talent_id or not str(talent_id).isdigit():
        return None
    zone_name = Talent.objects.filter(pk=talent_id).values_list("default_time_zone", flat=True).first()
    return zoneinfo.ZoneInfo(zone_name) if zone_name else None


def in_talent_zone(zone: zoneinfo.ZoneInfo | None, extra_context: dict, view: Callable[[dict], object]):
    """Run a change form `view(extra_context)` with the talent's zone active, and render it before
    the zone ends: the page's date-times are shown and parsed in it (campaigns, keywords, drops)."""
    if zone is None:
        return view(extra_context)
    with timezone.override(zone):
        extra_context["talent_zone"] = str(zone)
        response = view(extra_context)
        if hasattr(response, "render"):
            response.render()
        return response


def owned_audience(talent: Talent, picked: dict[str, list[int]]) -> dict:
    """The picked lists and segments that belong to `talent` (others are dropped, never counted)."""
    out = {}
    for name in AUDIENCE_FIELDS:
        model = ContactList if name.endswith("lists") else Segment
        out[name] = list(model.objects.filter(talent=talent, pk__in=picked.get(name, [])))
    return out


def estimate_json(estimate, errors: list[str]) -> dict:
    return {
        "preview": estimate.preview,
        "encoding": estimate.info.encoding,
        "parts": estimate.info.parts,
        "units": estimate.info.units,
        "per_part": estimate.info.per_part,
        "non_gsm": list(estimate.info.non_gsm),
        "recipients": estimate.recipients,
        "parts_total": estimate.parts_total,
        "cost": estimate.cost,
        "warnings": list(estimate.warnings),
        "duration": estimate.duration,  # the sender pool's plan (issue 17); composer.js shows it live
        "errors": errors,
    }
