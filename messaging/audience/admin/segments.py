"""The Segments pages: a form-built rule builder (no SQL, no code) with a live count and sample."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget, UnfoldBooleanWidget

from accounts import current_talent
from accounts.admin_scoping import TalentScopedAdmin, drop_talent
from accounts.countries import COUNTRY_NAMES
from accounts.models import Fan, Talent
from accounts.phones import known_zones
from messaging.audience import services as audience
from messaging.audience.admin.exports import export_view
from messaging.audience.models import validate_definition
from messaging.audience.rules import FIELDS, SegmentRuleError, describe
from messaging.models import ContactList, Poll, Segment, Tag

SAMPLE_SIZE = 10
BUILDER_ROWS = 8

OP_LABELS = {
    "in": "is one of",
    "starts_with": "starts with",
    "between": "between (e.g. 18-24, 21-, -17)",
    "before": "before (YYYY-MM-DD)",
    "after": "after (YYYY-MM-DD)",
    "is": "is (yes / no)",
    "replied_within": "replied within N days",
    "clicked_within": "clicked within N days",
    "received_within": "received a campaign within N days",
    "never_messaged": "never messaged",
    "voted": "voted (poll number: answers)",
}


# --- the segment builder ------------------------------------------------------------------------------------
class _SegmentBuilderBase(forms.ModelForm):
    """Builds the JSON definition from rows of (NOT?, field, operator, value): no SQL, no code."""

    match = forms.ChoiceField(
        choices=[("all", "Fans matching ALL of the conditions"), ("any", "Fans matching ANY of the conditions")],
        initial="all",
    )

    class Meta:
        model = Segment
        fields = ["talent", "name", "description"]

    preview_requested = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.definition = None
        self.editable_rules = True
        definition = self.instance.definition if self.instance.pk else None
        self._fit_value_pickers()
        if definition:
            rows = _rows_from_definition(definition, self.instance.talent_id)
            if rows is None:
                self.editable_rules = False  # nested groups (made through the API): shown, kept as they are
            elif not self.is_bound:
                match, conditions = rows
                self.initial["match"] = match
                for i, (negate, field, op, value) in enumerate(conditions[:BUILDER_ROWS]):
                    self.initial.update(
                        {
                            f"cond_{i}_negate": negate,
                            f"cond_{i}_field": field,
                            f"cond_{i}_op": op,
                            f"cond_{i}_value": value,
                        }
                    )
                self._fit_value_pickers()

    def _fit_value_pickers(self) -> None:
        """Give each row's value box the picker of its field (a datalist of countries, lists or
        tags by name, a date input ...). The page's script does the same as the field changes;
        without JavaScript the picker follows the field after a Preview."""
        for i in range(BUILDER_ROWS):
            key = f"cond_{i}_field"
            field = (self.data.get(key) if self.is_bound else None) or self.initial.get(key)
            # Each form has its own deep copy of the widgets, so this never leaks into another page.
            widget = self.fields[f"cond_{i}_value"].widget
            attrs = value_picker_attrs(field or "")
            widget.input_type = attrs.pop("type")
            for name, value in attrs.items():
                if value:
                    widget.attrs[name] = value
                else:
                    widget.attrs.pop(name, None)

    def _talent(self) -> Talent | None:
        return self.cleaned_data.get("talent") or (self.instance.talent if self.instance.talent_id else None)

    def clean(self):
        cleaned = super().clean()
        talent = self._talent()
        if talent is None:
            return cleaned
        conditions = []
        for i in range(BUILDER_ROWS):
            field = cleaned.get(f"cond_{i}_field")
            if not field:
                continue
            spec = FIELDS[field]
            op = cleaned.get(f"cond_{i}_op") or spec.ops[0]
            if op not in spec.ops:
                words = ", ".join(OP_LABELS[o] for o in spec.ops)
                self.add_error(f"cond_{i}_op", f"Condition {i + 1}: {spec.label} takes {words}.")
                continue
            try:
                value = _parse_value(spec.kind, op, cleaned.get(f"cond_{i}_value", ""), talent)
                condition = validate_definition({"field": field, "op": op, "value": value}, talent_id=talent.pk)
            except (SegmentRuleError, ValueError) as exc:
                message = str(exc).replace("definition (", "(")
                self.add_error(f"cond_{i}_value", f"Condition {i + 1}: {message}")
                continue
            conditions.append({"not": condition} if cleaned.get(f"cond_{i}_negate") else condition)
        if any(name.startswith("cond_") for name in self.errors):
            return cleaned
        if not self.editable_rules and not conditions:
            self.definition = self.instance.definition
        else:
            self.definition = {cleaned.get("match") or "all": conditions}
            if self.definition == {"any": []}:
                self.definition = {"all": []}
        if self.preview_requested:
            count, sample = audience.segment_preview(talent=talent, definition=self.definition, sample_size=SAMPLE_SIZE)
            self.preview = {
                "count": count,
                "sample": sample,
                "breakdown": audience.segment_counts(talent=talent, definition=self.definition),
                "description": describe(self.definition, rule_names(talent.pk)),
            }
            raise ValidationError("Preview only: nothing saved yet. Press Save to keep this segment.")
        return cleaned

    def save(self, commit=True):
        if self.definition is not None:
            self.instance.definition = self.definition
        return super().save(commit)


BUILDER_HELP = "Lists of values are comma-separated. " + "; ".join(
    f"{spec.label}: {spec.help}" for spec in FIELDS.values() if spec.help
)


def _builder_fields() -> dict:
    field_choices = [("", "---------")] + [(name, spec.label) for name, spec in FIELDS.items()]
    op_choices = [("", "(default)")] + list(OP_LABELS.items())
    attrs = {}
    for i in range(BUILDER_ROWS):
        attrs[f"cond_{i}_negate"] = forms.BooleanField(required=False, label="NOT", widget=UnfoldBooleanWidget)
        attrs[f"cond_{i}_field"] = forms.ChoiceField(
            choices=field_choices, required=False, label=f"Condition {i + 1}", widget=UnfoldAdminSelectWidget
        )
        attrs[f"cond_{i}_op"] = forms.ChoiceField(
            choices=op_choices, required=False, label="operator", widget=UnfoldAdminSelectWidget
        )
        attrs[f"cond_{i}_value"] = forms.CharField(required=False, label="value", widget=UnfoldAdminTextInputWidget)
    return attrs


SegmentBuilderForm = type("SegmentBuilderForm", (_SegmentBuilderBase,), _builder_fields())

# The value picker of each field kind: which datalist (rendered once on the page) and input type.
_PICKERS = {
    "codes": {"list": "segment-values-country", "placeholder": "US, CA"},
    "zones": {"list": "segment-values-zone", "placeholder": "America/New_York"},
    "date": {"type": "date"},
    "ids:list": {"list": "segment-values-list", "placeholder": "list name(s), comma-separated"},
    "ids:tag": {"list": "segment-values-tag", "placeholder": "tag name(s), comma-separated"},
    "choices:status": {"list": "segment-values-status", "placeholder": "active"},
    "choices:source": {"list": "segment-values-source", "placeholder": "sms, web"},
    "bool": {"list": "segment-values-bool", "placeholder": "yes or no"},
    "age": {"placeholder": "18-24"},
    "days": {"inputmode": "numeric", "placeholder": "30"},
    "prefix": {"placeholder": "941"},
    "poll": {"list": "segment-values-poll", "placeholder": "12: 2"},
}


def value_picker_attrs(field: str) -> dict[str, str]:
    """Widget attributes for the value box of `field` (every key set, so a changed field resets)."""
    picker = _PICKERS.get(FIELDS[field].kind, {}) if field in FIELDS else {}
    return {"list": "", "type": "text", "placeholder": "", "inputmode": "text", **picker}


def builder_choices(talent_id: int | None) -> dict:
    """What the builder's pickers offer: countries, zones, the talent's lists and tags by name."""
    lists = list(ContactList.objects.filter(talent_id=talent_id).values_list("name", flat=True)[:500])
    tags = list(Tag.objects.filter(talent_id=talent_id).values_list("name", flat=True)[:500])
    return {
        "segment-values-country": [(code, name) for code, name in COUNTRY_NAMES.items() if code != name],
        "segment-values-zone": [(z, "") for z in sorted(known_zones()) if "/" in z],
        "segment-values-list": [(n, "") for n in lists],
        "segment-values-tag": [(n, "") for n in tags],
        "segment-values-status": [(v, label) for v, label in Fan.Status.choices],
        "segment-values-source": [(v, label) for v, label in Fan.Source.choices],
        "segment-values-bool": [("yes", ""), ("no", "")],
        "segment-values-poll": [(f"{pk}: ", question) for pk, question in _polls(talent_id)],
    }


def _polls(talent_id: int | None) -> list[tuple[int, str]]:
    """The talent's polls, newest first: (id, question), for the picker and summaries."""
    rows = Poll.objects.filter(campaign__talent_id=talent_id).order_by("-pk").values_list("pk", "question")[:200]
    return list(rows)


def field_specs_json() -> dict:
    """Per field: its operators and its picker, for the page's script."""
    return {
        name: {"ops": list(spec.ops), "picker": value_picker_attrs(name), "help": spec.help}
        for name, spec in FIELDS.items()
    }


def rule_names(talent_id: int | None) -> dict[str, dict[int, str]]:
    """{"list": {id: name}, "tag": {id: name}} for summaries that show names, not ids."""
    return {
        "list": dict(ContactList.objects.filter(talent_id=talent_id).values_list("id", "name")),
        "tag": dict(Tag.objects.filter(talent_id=talent_id).values_list("id", "name")),
        "poll": {pk: f"#{pk} {question!r}" for pk, question in _polls(talent_id)},
    }


def _parse_value(kind: str, op: str, text: str, talent: Talent):
    text = (text or "").strip()
    if kind in ("codes", "strings", "zones") or kind.startswith("choices:"):
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind in ("prefix", "date"):
        return text
    if kind == "age":
        lo, sep, hi = text.partition("-")
        try:
            if not sep:
                return {"min": int(lo), "max": int(lo)}
            return {k: int(v) for k, v in (("min", lo.strip()), ("max", hi.strip())) if v}
        except ValueError:
            raise ValueError(f"(age): {text!r} is not an age range such as 18-24")
    if kind.startswith("ids:"):
        model = ContactList if kind.endswith("list") else Tag
        names = [part.strip() for part in text.split(",") if part.strip()]
        found = dict(model.objects.filter(talent=talent, name__in=names).values_list("name", "id"))
        missing = [n for n in names if n not in found]
        if missing:
            noun = "contact list" if model is ContactList else "tag"
            raise ValueError(f"no {noun} named {missing[0]!r}")
        return [found[n] for n in names]
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("yes", "true", "1", "y"):
            return True
        if lowered in ("no", "false", "0", "n"):
            return False
        return text
    if kind == "poll":
        # "12: 2, 3" = voted 2 or 3 in poll 12; "12" = voted at all. Checked by validate_definition.
        poll, _, answers = text.partition(":")
        if not poll.strip().lstrip("#").isdigit():
            raise ValueError(f"(poll): {text!r}: start with the poll's number, e.g. 12: 2")
        return {"poll": int(poll.strip().lstrip("#")), "answers": [a.strip() for a in answers.split(",") if a.strip()]}
    if kind == "days":
        if op == "never_messaged":
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"(engagement): {text!r} is not a number of days")
    return text


def _rows_from_definition(definition: dict, talent_id: int):
    """(match, [(negate, field, op, value-text)]) for a flat definition; None if it nests deeper."""
    key = "all" if "all" in definition else "any" if "any" in definition else None
    if key is None:
        return None
    names = {
        "list": dict(ContactList.objects.filter(talent_id=talent_id).values_list("id", "name")),
        "tag": dict(Tag.objects.filter(talent_id=talent_id).values_list("id", "name")),
    }
    rows = []
    for node in definition[key]:
        negate = "not" in node
        cond = node["not"] if negate else node
        if "field" not in cond:
            return None
        value = cond.get("value")
        if cond["field"] in names:
            text = ", ".join(names[cond["field"]].get(i, str(i)) for i in value)
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        elif cond["field"] == "poll" and isinstance(value, dict):
            text = f"{value.get('poll')}: {', '.join(value.get('answers') or [])}".rstrip(": ")
        elif isinstance(value, dict):
            lo, hi = value.get("min"), value.get("max")
            text = str(lo) if lo == hi else f"{'' if lo is None else lo}-{'' if hi is None else hi}"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = "" if value is None else str(value)
        rows.append((negate, cond["field"], cond["op"], text))
    if len(rows) > BUILDER_ROWS:
        return None
    return key, rows


@admin.register(Segment)
class SegmentAdmin(TalentScopedAdmin):
    form = SegmentBuilderForm
    change_form_template = "admin/messaging/segment_change_form.html"
    list_display = ["name", "talent", "size", "rules", "is_builtin", "updated_at", "export_link"]
    list_select_related = ["talent"]
    search_fields = ["name"]

    @admin.display(description="Reachable fans")
    def size(self, obj):
        # Cached for two minutes (audience.segment_size): a scan per segment per page view would not scale.
        return f"{audience.segment_size(obj):,}"

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.is_builtin:
            fieldsets = [(None, {"fields": ["talent", "name", "description", "rules"]})]
        else:
            rows = [
                (f"cond_{i}_negate", f"cond_{i}_field", f"cond_{i}_op", f"cond_{i}_value") for i in range(BUILDER_ROWS)
            ]
            fieldsets = [
                (None, {"fields": ["talent", "name", "description"]}),
                ("Who is in it", {"fields": ["rules", "match", *rows], "description": BUILDER_HELP}),
            ]
        return drop_talent(fieldsets, self._pinned_talent_id(request))

    def get_readonly_fields(self, request, obj=None):
        fields = ["rules"]
        if obj is not None:
            fields.append("talent")  # a segment's rules name the talent's own lists and tags
        return fields

    @admin.display(description="Rules")
    def rules(self, obj):
        if obj is None or not obj.pk:
            return "Choose conditions below."
        if obj.is_builtin:
            return "Built-in: every reachable fan of the talent. It cannot be changed or deleted."
        text = describe(obj.definition or {"all": []}, rule_names(obj.talent_id))
        if _rows_from_definition(obj.definition or {"all": []}, obj.talent_id) is None:
            text += " (nested groups made through the API: conditions chosen below replace them)"
        return text

    @admin.display(description="Export")
    def export_link(self, obj):
        return format_html('<a href="{}">Export…</a>', reverse("admin:messaging_segment_export", args=[obj.pk]))

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_builtin:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        # The confirmation page already refuses the built-in one; this is the belt to those braces.
        for segment in queryset.exclude(is_builtin=True):
            audience.segment_delete(segment=segment, actor=request.user)

    def delete_model(self, request, obj):
        audience.segment_delete(segment=obj, actor=request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.preview_requested = request.method == "POST" and "_preview" in request.POST
        return form

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context.get("adminform").form if context.get("adminform") else None
        preview = getattr(form, "preview", None)
        if preview is None and obj is not None and obj.pk and request.method == "GET":
            qs = audience.segment_queryset(obj)
            preview = {
                "count": audience.reachable(qs).count(),
                "sample": list(audience.reachable(qs).order_by("-id")[:SAMPLE_SIZE]),
                "breakdown": audience.audience_breakdown(qs),
                "saved": True,
            }
        context["preview"] = preview
        talent_id = obj.talent_id if obj is not None and obj.pk else current_talent.current_id(request)
        context["picker_lists"] = builder_choices(talent_id)
        context["field_specs"] = field_specs_json()
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("live-count/", wrap(self.live_count_view), name="messaging_segment_live_count"),
            path("<path:object_id>/export/", wrap(self.export_view), name="messaging_segment_export"),
            *super().get_urls(),
        ]

    def live_count_view(self, request):
        """The builder's count as the conditions change (the page's small script posts here)."""
        if request.method != "POST":
            return JsonResponse({"error": "POST the builder form."}, status=405)
        obj = self.get_object(request, request.GET["object_id"]) if request.GET.get("object_id") else None
        if not (self.has_change_permission(request, obj) if obj else self.has_add_permission(request)):
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        form.preview_requested = False
        form.is_valid()
        if form.definition is None:
            errors = [str(e) for name, errs in form.errors.items() if name.startswith("cond_") for e in errs]
            return JsonResponse({"error": " ".join(errors) or "Choose the talent first."}, status=400)
        talent = form.cleaned_data.get("talent") or obj.talent
        counts = audience.segment_counts(talent=talent, definition=form.definition)
        return JsonResponse(
            {"count": counts["reachable"], **counts, "rules": describe(form.definition, rule_names(talent.pk))}
        )

    def export_view(self, request, object_id):
        segment = self.get_object(request, object_id)
        return export_view(self, request, segment=segment)
