"""Console pages for the audience: contact lists, segments (a form-built rule builder with a live
count and sample), tags, CSV imports with a downloadable error report, and streamed exports.

Pages stay thin: forms validate, services in messaging/audience.py act.
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.conf import settings as django_settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.contrib.filters.admin import DropdownFilter as UnfoldDropdownFilter
from unfold.contrib.filters.admin import TextFilter as UnfoldTextFilter
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget, UnfoldBooleanWidget

from accounts import current_talent, permissions, phones, ratelimit
from accounts.admin_scoping import TalentScopedAdmin, drop_talent, pinned_talent_field, scope_related
from accounts.audit import audit
from accounts.countries import COUNTRY_NAMES
from accounts.models import Fan, Talent
from accounts.phones import known_zones
from accounts.tokens import join_tokens
from consent import texts as consent_texts
from consent.models import Partner
from messaging.audience import exports, imports
from messaging.audience import services as audience
from messaging.audience.exports import DEFAULT_EXPORT_COLUMNS, EXPORT_AUDIENCES, EXPORT_COLUMNS
from messaging.audience.imports import ImportRefused
from messaging.audience.models import validate_definition
from messaging.audience.rules import FIELDS, SegmentRuleError, describe
from messaging.automations import joins as automation_joins
from messaging.campaigns.models import Click
from messaging.conversations.priority import priority_message_queue
from messaging.models import ContactList, ContactListMember, ExportAudit, FanTag, ImportBatch, Segment, Tag
from messaging.privacy.services import fan_data_export, fan_erase
from messaging.sms.models import OutboundMessage

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
}


def _render(request, modeladmin, title: str, form, *, submit: str, original=None, **extra) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "form": form,
        "submit_label": submit,
        "original": original,
        **extra,
    }
    return TemplateResponse(request, "admin/messaging/audience_form.html", context)


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
    }


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


# --- exports ------------------------------------------------------------------------------------------------
class ExportForm(forms.Form):
    audience = forms.ChoiceField(
        label="Who",
        choices=list(EXPORT_AUDIENCES.items()),
        initial="reachable",
        required=False,  # left out (an older script's POST): the default, reachable fans
        widget=forms.RadioSelect,
        help_text="Fans who opted out are exported only as a suppression list, with the reason recorded.",
    )
    purpose = forms.CharField(
        required=False,
        max_length=200,
        label="Why you export fans who opted out",
        help_text="Required for a suppression list, e.g. 'suppression list for our email tool'. Kept in the export log.",
    )
    columns = forms.MultipleChoiceField(
        choices=[(name, label) for name, (label, _) in EXPORT_COLUMNS.items()],
        widget=forms.CheckboxSelectMultiple,
        initial=DEFAULT_EXPORT_COLUMNS,
    )
    file_format = forms.ChoiceField(
        label="Format", choices=[("csv", "CSV (UTF-8, with header)"), ("jsonl", "JSON lines")], initial="csv"
    )
    for_partner = forms.BooleanField(
        required=False,
        label="For a partner",
        help_text="Leaves out every fan who has not agreed to share their data with partners.",
    )
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.none(),
        required=False,
        label="Which partner",
        help_text="One of the partners named on the talent's privacy page (edit them on the talent's page).",
    )

    def __init__(self, *args, talent=None, **kwargs):
        super().__init__(*args, **kwargs)
        if talent is not None:
            self.fields["partner"].queryset = Partner.objects.filter(talent=talent, is_active=True)

    def clean(self):
        cleaned = super().clean()
        cleaned["audience"] = cleaned.get("audience") or "reachable"
        # A partner export names one of the talent's partners (issue 15); picking one makes it one.
        for_partner = cleaned.get("for_partner") or cleaned.get("partner") is not None
        if cleaned.get("for_partner") and not cleaned.get("partner"):
            self.add_error("partner", "Pick the partner this file is for.")
        if cleaned.get("audience") == "opted_out":
            if len((cleaned.get("purpose") or "").strip()) < 5:
                self.add_error("purpose", "Say why you export fans who opted out; the reason is recorded.")
            if for_partner:
                self.add_error("for_partner", "Fans who opted out are never exported for a partner.")
        return cleaned


def export_view(modeladmin, request, *, segment: Segment | None = None, contact_list: ContactList | None = None):
    source = segment or contact_list
    if not (request.user.is_staff and permissions.can(request.user, "export", source.talent_id)):
        raise PermissionDenied("Exports need the export permission (owner or analyst).")
    form = ExportForm(request.POST or None, talent=source.talent)
    if request.method == "POST" and form.is_valid():
        # Keep the chosen order of the column list, not the order of the clicks.
        columns = [c for c in EXPORT_COLUMNS if c in form.cleaned_data["columns"]]
        try:
            export = exports.audience_export(
                talent=source.talent,
                actor=request.user,
                segment=segment,
                contact_list=contact_list,
                columns=columns,
                file_format=form.cleaned_data["file_format"],
                for_partner=form.cleaned_data["for_partner"],
                partner=form.cleaned_data["partner"],
                via="console",
                audience=form.cleaned_data["audience"],
                purpose=form.cleaned_data["purpose"],
            )
        except (audience.AudienceError, PermissionError) as exc:
            form.add_error(None, str(exc))
        else:
            response = StreamingHttpResponse(export.chunks(), content_type=export.content_type)
            response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
            response["Cache-Control"] = "no-store"
            return response
    counts = exports.export_counts(segment=segment, contact_list=contact_list)
    # The row count before anything downloads; erased fans are only ever a count.
    count_lines = [
        f"{counts['reachable']:,} reachable fans (active, consented): the rows of a default export.",
        f"{counts['opted_out']:,} opted out: exported only as a suppression list, with a reason.",
        f"{counts['pending']:,} pending (never agreed) and {counts['erased']:,} erased: never exported.",
    ]
    if counts["held"]:
        count_lines.append(f"{counts['held']:,} held (a possible opt-out not decided yet): not exported until decided.")
    if form.fields["partner"].queryset.exists():
        # A partner export (issue 15) holds the reachable fans who agreed to sharing.
        shared = exports.export_queryset(segment=segment, contact_list=contact_list, for_partner=True).count()
        count_lines.insert(1, f"{shared:,} of them agreed to share with partners: the rows of a partner export.")
    return _render(
        request,
        modeladmin,
        f"Export {source}",
        form,
        submit="Download the file",
        original=source,
        intro="The file streams as it is written. Every export is recorded (who, when, columns, rows). "
        "Phones are plain E.164 (+14155552671), times ISO 8601 in UTC.",
        result_title="How many rows",
        result_lines=count_lines,
    )


# --- contact lists -------------------------------------------------------------------------------------------
class ListCsvForm(forms.Form):
    file = forms.FileField(help_text="A CSV with a phone column (or just one number per line), UTF-8.")
    mode = forms.ChoiceField(choices=[("add", "Add these fans to the list"), ("remove", "Remove them from the list")])
    default_region = forms.CharField(
        max_length=2, initial="US", help_text="Country of numbers written without +country code."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        from django.conf import settings

        if upload.size > settings.AUDIENCE_IMPORT_MAX_BYTES:
            raise ValidationError(f"The file is larger than {settings.AUDIENCE_IMPORT_MAX_BYTES:,} bytes.")
        return upload


@admin.register(ContactList)
class ContactListAdmin(TalentScopedAdmin):
    list_display = ["name", "talent", "member_count", "created_at", "tools"]
    list_select_related = ["talent"]
    search_fields = ["name"]
    exclude = ["fans"]
    readonly_fields = ["member_count", "tools"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_members=Count("memberships"))

    @admin.display(description="Fans")
    def member_count(self, obj):
        count = getattr(obj, "_members", None)
        if count is None:
            count = obj.memberships.count()
        if not obj.pk:
            return count
        # The members are one click away: the Fans page filtered by this list.
        url = reverse("admin:accounts_fan_changelist") + f"?list={obj.pk}"
        return format_html('<a href="{}">{} fans</a>', url, f"{count:,}")

    @admin.display(description="Tools")
    def tools(self, obj):
        if obj is None or not obj.pk:
            return "-"
        return format_html(
            '<a href="{}">Add or remove fans from a CSV…</a> · <a href="{}">Export…</a>',
            reverse("admin:messaging_contactlist_upload", args=[obj.pk]),
            reverse("admin:messaging_contactlist_export", args=[obj.pk]),
        )

    def delete_model(self, request, obj):
        audience.contact_list_delete(contact_list=obj, actor=request.user)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/upload/", wrap(self.upload_view), name="messaging_contactlist_upload"),
            path("<path:object_id>/export/", wrap(self.export_view), name="messaging_contactlist_export"),
            *super().get_urls(),
        ]

    def export_view(self, request, object_id):
        return export_view(self, request, contact_list=self.get_object(request, object_id))

    def upload_view(self, request, object_id):
        contact_list = self.get_object(request, object_id)
        if not self.has_change_permission(request, contact_list):
            raise PermissionDenied
        form = ListCsvForm(request.POST or None, request.FILES or None)
        result_lines = []
        if request.method == "POST" and form.is_valid():
            try:
                result = imports.contact_list_update_from_csv(
                    contact_list=contact_list,
                    file=form.cleaned_data["file"],
                    remove=form.cleaned_data["mode"] == "remove",
                    default_region=form.cleaned_data["default_region"],
                    actor=request.user,
                )
            except ImportRefused as exc:
                form.add_error("file", f"Nothing changed: {exc}.")
            else:
                verb = "removed from" if form.cleaned_data["mode"] == "remove" else "added to"
                result_lines.append(f"{result.matched} numbers matched fans; {result.changed} {verb} the list.")
                result_lines += [f"Line {line}: {reason}" for line, reason in result.errors[:200]]
                if len(result.errors) > 200:
                    result_lines.append(f"… and {len(result.errors) - 200} more lines not matched.")
        return _render(
            request,
            self,
            "Add or remove fans from a CSV",
            form,
            submit="Upload",
            original=contact_list,
            result_lines=result_lines,
        )


# --- fan changelist actions (registered on accounts.admin.FanAdmin) --------------------------------------------
class ListActionForm(forms.Form):
    contact_list = forms.ModelChoiceField(queryset=ContactList.objects.none(), required=False, label="Contact list")
    new_list = forms.CharField(required=False, max_length=120, label="…or a new list named")

    def __init__(self, *args, talent: Talent, remove: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.talent = talent
        self.fields["contact_list"].queryset = ContactList.objects.filter(talent=talent)
        if remove:
            del self.fields["new_list"]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("contact_list") and not cleaned.get("new_list"):
            raise ValidationError("Choose a list (or name a new one).")
        return cleaned


def _single_talent(request, queryset) -> Talent | None:
    talent_ids = list(queryset.order_by().values_list("talent_id", flat=True).distinct()[:2])
    if len(talent_ids) != 1:
        messages.error(request, "Select fans of one talent at a time.")
        return None
    return Talent.objects.get(pk=talent_ids[0])


def _hidden_selection(request) -> list[tuple[str, str]]:
    pairs = [("action", request.POST["action"]), ("select_across", request.POST.get("select_across", "0"))]
    if request.POST.get("select_across") != "1":
        pairs += [
            (admin.helpers.ACTION_CHECKBOX_NAME, pk) for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        ]
    return pairs


def _list_action(modeladmin, request, queryset, *, remove: bool):
    talent = _single_talent(request, queryset)
    if talent is None:
        return None
    form = ListActionForm(request.POST if "_apply" in request.POST else None, talent=talent, remove=remove)
    if form.is_valid():
        contact_list = form.cleaned_data["contact_list"]
        if contact_list is None:
            contact_list, _ = ContactList.objects.get_or_create(
                talent=talent, name=form.cleaned_data["new_list"].strip()
            )
        if remove:
            n = audience.contact_list_remove_fans(contact_list=contact_list, fans=queryset, actor=request.user)
            messages.success(request, f"Removed {n} fans from {contact_list}.")
        else:
            n = audience.contact_list_add_fans(contact_list=contact_list, fans=queryset, actor=request.user)
            messages.success(request, f"Added {n} fans to {contact_list} (the others were already in it).")
        return None
    return _render(
        request,
        modeladmin,
        ("Remove selected fans from a list" if remove else "Add selected fans to a list"),
        form,
        submit="Remove" if remove else "Add",
        hidden_pairs=[*_hidden_selection(request), ("_apply", "1")],
    )


@admin.action(description="Add selected fans to a contact list…", permissions=["change"])
def add_to_contact_list(modeladmin, request, queryset):
    return _list_action(modeladmin, request, queryset, remove=False)


@admin.action(description="Remove selected fans from a contact list…", permissions=["change"])
def remove_from_contact_list(modeladmin, request, queryset):
    return _list_action(modeladmin, request, queryset, remove=True)


class TagActionForm(forms.Form):
    tag = forms.CharField(max_length=60, help_text="An existing tag, or a new one.")


@admin.action(description="Tag selected fans…", permissions=["change"])
def tag_fans(modeladmin, request, queryset):
    talent = _single_talent(request, queryset)
    if talent is None:
        return None
    form = TagActionForm(request.POST if "_apply" in request.POST else None)
    if form.is_valid():
        try:
            n = audience.fan_tags_add(
                talent=talent, tag_name=form.cleaned_data["tag"], fans=queryset, actor=request.user
            )
        except audience.AudienceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Tagged {n} fans with {form.cleaned_data['tag']!r}.")
        return None
    return _render(
        request,
        modeladmin,
        "Tag selected fans",
        form,
        submit="Tag",
        hidden_pairs=[*_hidden_selection(request), ("_apply", "1")],
    )


FAN_ACTIONS = [add_to_contact_list, remove_from_contact_list, tag_fans]


@admin.register(Tag)
class TagAdmin(TalentScopedAdmin):
    list_display = ["name", "talent", "fan_count", "created_at"]
    list_select_related = ["talent"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_fans=Count("fan_tags"))

    @admin.display(description="Fans")
    def fan_count(self, obj):
        url = reverse("admin:accounts_fan_changelist") + f"?tag={obj.pk}"
        return format_html('<a href="{}">{} fans</a>', url, f"{getattr(obj, '_fans', 0):,}")


# --- imports --------------------------------------------------------------------------------------------------
class ImportForm(forms.Form):
    """Step one uploads (the file is staged on the server and previewed); step two maps the
    columns and confirms the consent. A form error on either step keeps the staged file."""

    talent = forms.ModelChoiceField(queryset=Talent.objects.none())
    staged = forms.CharField(required=False, widget=forms.HiddenInput)
    file = forms.FileField(
        required=False,
        help_text="CSV, UTF-8, with a header row and a column of phone numbers (any format). "
        "You choose what each column holds on the next step.",
    )
    consent_source = forms.CharField(
        max_length=200, label="Where the fans agreed", help_text="Consent evidence, e.g. 'Tour 2026 sign-up sheet'."
    )
    consent_date = forms.DateField(
        label="Date they agreed", help_text="YYYY-MM-DD", widget=forms.DateInput(attrs={"type": "date"})
    )
    default_region = forms.CharField(max_length=2, initial="US", help_text="Country of numbers written without +code.")
    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.none(), required=False, help_text="Also add them to this list."
    )
    consent_confirmed = forms.BooleanField(
        required=False,
        label="Every person in this file agreed to receive recurring texts from this talent, where and when stated above",
        help_text="Texting people who did not agree is unlawful in most countries (TCPA, GDPR, CASL).",
    )

    def __init__(self, *args, request, columns: list[str] | None = None, guess: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["talent"].queryset = scope_related(request, Talent.objects.all(), "edit_audience")
        talent_id = current_talent.current_id(request)
        if talent_id is not None:  # one talent at a time: no dropdown, the current one (see admin_scoping)
            self.fields["talent"] = pinned_talent_field(talent_id)
        self.fields["contact_list"].queryset = scope_related(
            request, ContactList.objects.select_related("talent"), "edit_audience"
        )
        self.columns = columns or []
        choices = [(imports.IGNORE, "(do not import)")] + [(name, name.replace("_", " ")) for name in imports.MAPPABLE]
        for index, header in enumerate(self.columns):
            self.fields[f"map_{index}"] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=f"Column {index + 1} ({header[:40] or 'no header'})",
                initial=(guess or {}).get(index, imports.IGNORE),
            )

    def mapping(self) -> dict[int, str]:
        return {i: self.cleaned_data.get(f"map_{i}") or imports.IGNORE for i in range(len(self.columns))}

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload and upload.size > django_settings.AUDIENCE_IMPORT_MAX_BYTES:
            raise ValidationError(
                f"The file is larger than {django_settings.AUDIENCE_IMPORT_MAX_BYTES:,} bytes; split it."
            )
        return upload

    def clean(self):
        cleaned = super().clean()
        cl, talent = cleaned.get("contact_list"), cleaned.get("talent")
        if cl and talent and cl.talent_id != talent.pk:
            self.add_error("contact_list", "That list belongs to another talent.")
        if cleaned.get("consent_date") and cleaned["consent_date"] > timezone.localdate():
            self.add_error("consent_date", "The consent date is in the future.")
        return cleaned


_STAGED_SESSION_KEY = "audience_import_staged"


def _session_staged(request, token: str) -> imports.StagedImport | None:
    """A staged upload of this session (tokens are unguessable, and bound to the session too)."""
    entry = request.session.get(_STAGED_SESSION_KEY, {}).get(token or "")
    if not entry:
        return None
    staged = imports.StagedImport(token, entry["talent"], entry["name"])
    return staged if imports.staged_exists(staged) else None


def _remember_staged(request, staged: imports.StagedImport) -> None:
    kept = dict(request.session.get(_STAGED_SESSION_KEY, {}))
    kept[staged.token] = {"talent": staged.talent_id, "name": staged.original_name}
    request.session[_STAGED_SESSION_KEY] = dict(list(kept.items())[-5:])


def import_add_view(modeladmin, request):
    """Upload -> preview and map -> confirm -> import (thin: imports.* do the work)."""
    post = request.POST if request.method == "POST" else None
    staged = _session_staged(request, post.get("staged", "")) if post else None
    upload = request.FILES.get("file") if post else None
    preview = None
    columns, guess = [], {}
    if upload is not None:
        probe = ImportForm(post, request.FILES, request=request)
        probe.is_valid()
        talent = probe.cleaned_data.get("talent")
        if talent is None or probe.errors.get("file"):
            return _import_page(request, modeladmin, probe, None, None)
        if staged is not None:
            imports.staged_discard(staged)  # a new file replaces the one kept before
        try:
            staged = imports.import_stage(talent=talent, upload=upload, original_name=upload.name, actor=request.user)
        except (ImportRefused, PermissionError) as exc:
            probe.add_error("file", f"Import refused: {exc}.")
            return _import_page(request, modeladmin, probe, None, None)
        _remember_staged(request, staged)
    if staged is not None:
        try:
            columns, rows, guess = imports.staged_preview(staged)
        except ImportRefused as exc:
            imports.staged_discard(staged)
            form = ImportForm(post, request=request)
            form.is_valid()
            form.add_error("file", f"Import refused: {exc}. Choose another file.")
            return _import_page(request, modeladmin, form, None, None)
        preview = {"name": staged.original_name, "header": columns, "rows": rows}
    data = post.copy() if post else None
    if data is not None and staged is not None:
        data["staged"] = staged.token
    form = ImportForm(data, request=request, columns=columns, guess=guess)
    if upload is not None:
        # Just uploaded: show the preview and the guessed mapping first; nothing imports yet.
        form = ImportForm(
            None, request=request, columns=columns, guess=guess, initial={**post.dict(), "staged": staged.token}
        )
        return _import_page(request, modeladmin, form, preview, staged)
    if post is None:
        return _import_page(request, modeladmin, form, None, None)
    if staged is None:
        form.is_valid()
        form.add_error("file", "Choose a CSV file to import.")
        return _import_page(request, modeladmin, form, None, None)
    if not form.is_valid():
        return _import_page(request, modeladmin, form, preview, staged)
    if not form.cleaned_data["consent_confirmed"]:
        form.add_error("consent_confirmed", "Confirm that every person in the file agreed to receive texts.")
        return _import_page(request, modeladmin, form, preview, staged)
    data = form.cleaned_data
    if data["talent"].pk != staged.talent_id:
        raise PermissionDenied
    try:
        mapped = imports.staged_apply_mapping(staged, form.mapping())
        with mapped:
            batch = imports.import_batch_create(
                talent=data["talent"],
                file=mapped,
                original_name=staged.original_name,
                consent_source=data["consent_source"],
                consent_date=data["consent_date"],
                default_region=data["default_region"],
                contact_list=data["contact_list"],
                actor=request.user,
            )
    except (ImportRefused, PermissionError) as exc:
        form.add_error(None, f"Import refused: {exc}.")
        return _import_page(request, modeladmin, form, preview, staged)
    imports.staged_discard(staged)
    batch = imports.import_batch_start(batch=batch)
    _announce(request, batch)
    return HttpResponseRedirect(reverse("admin:messaging_importbatch_change", args=[batch.pk]))


def _import_page(request, modeladmin, form, preview, staged):
    lines = []
    if staged is not None:
        lines.append(
            f"File: {staged.original_name} (kept on the server for a day; choose another file to replace it). "
            "Check what each column holds below, confirm the consent, then press Import."
        )
    return _render(
        request,
        modeladmin,
        "Import fans from a CSV",
        form,
        submit="Import" if staged is not None else "Upload and preview",
        intro=format_html(
            'Need a template? <a href="{}">Download a sample CSV</a>.', reverse("admin:messaging_importbatch_sample")
        ),
        result_title="Your file",
        result_lines=lines,
        preview=preview,
    )


@admin.register(ImportBatch)
class ImportBatchAdmin(TalentScopedAdmin):
    list_display = [
        "__str__",
        "talent",
        "status",
        "total_rows",
        "created_count",
        "updated_count",
        "error_count",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["talent"]
    actions = ["run_again"]
    readonly_fields = [
        "talent", "original_name", "status", "failure", "consent_source", "consent_date", "default_region",
        "contact_list", "total_rows", "created_count", "updated_count", "skipped_erased", "error_count",
        "error_report_link", "created_by", "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    fields = readonly_fields

    @admin.display(description="Bad rows")
    def error_report_link(self, obj):
        if not obj.error_count:
            return "None"
        url = reverse("admin:messaging_importbatch_errors", args=[obj.pk])
        return format_html('<a href="{}">Download the report ({} lines)</a>', url, obj.error_count)

    def has_change_permission(self, request, obj=None):
        return False  # a batch is evidence: read-only once made

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, self.view_capability, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("sample.csv", self.admin_site.admin_view(self.sample_view), name="messaging_importbatch_sample"),
            path(
                "<path:object_id>/errors.csv",
                self.admin_site.admin_view(self.errors_view),
                name="messaging_importbatch_errors",
            ),
            *super().get_urls(),
        ]

    def errors_view(self, request, object_id):
        batch = self.get_object(request, object_id)
        if not batch.error_report:
            raise Http404("This import had no bad rows.")
        response = HttpResponse(batch.error_report, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-errors.csv"'
        return response

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return import_add_view(self, request)

    def sample_view(self, request):
        response = HttpResponse(imports.SAMPLE_CSV, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="fans-sample.csv"'
        return response

    @admin.action(description="Run again (resume an interrupted import)", permissions=["add"])
    def run_again(self, request, queryset):
        for batch in queryset.filter(status__in=[ImportBatch.Status.PENDING, ImportBatch.Status.RUNNING]):
            _announce(request, imports.import_batch_run(batch=batch))


def _announce(request, batch: ImportBatch) -> None:
    if batch.status == ImportBatch.Status.COMPLETED:
        level = messages.WARNING if batch.error_count else messages.SUCCESS
        messages.add_message(
            request,
            level,
            f"{batch}: created {batch.created_count}, updated {batch.updated_count}, skipped "
            f"{batch.skipped_erased} erased numbers, {batch.error_count} bad rows"
            + (" (download the report below)." if batch.error_count else "."),
        )
    elif batch.status in (ImportBatch.Status.PENDING, ImportBatch.Status.RUNNING):
        messages.info(
            request,
            f"{batch} is a big file, so it is importing in the background. Reload this page to see its progress; "
            "the counts appear when it completes.",
        )
    else:
        messages.error(request, f"{batch} refused, nothing imported: {batch.failure}")


@admin.register(ExportAudit)
class ExportAuditAdmin(TalentScopedAdmin):
    list_display = [
        "started_at",
        "talent",
        "actor",
        "audience_name",
        "file_format",
        "for_partner",
        "partner_name",
        "audience",
        "purpose",
        "row_count",
        "completed",
        "via",
    ]
    list_filter = ["audience", "for_partner", "completed", "via"]
    list_select_related = ["talent", "actor"]
    readonly_fields = [f.name for f in ExportAudit._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, self.view_capability, obj)


# --- the Fans pages (registered by accounts.admin.FanAdmin): search, filters, add, the profile ----------------
# Filters offer bounded choices only: a talent's lists and tags (the first FILTER_CHOICES by name),
# fixed windows for dates and engagement, text boxes for country and region. Never a DISTINCT over
# a million fans to build a dropdown.
FILTER_CHOICES = 200
ENGAGEMENT_DAYS = 30


def _talent_filter_ids(request) -> list[int] | None:
    ids = current_talent.talent_ids(request, "view")
    return None if ids is None else sorted(ids)


class _NamedRowsFilter(UnfoldDropdownFilter):
    model: type = ContactList
    through: type = ContactListMember

    def lookups(self, request, model_admin):
        rows = self.model.objects.order_by("name")
        ids = _talent_filter_ids(request)
        if ids is not None:
            rows = rows.filter(talent_id__in=ids)
        return [(str(pk), name) for pk, name in rows.values_list("pk", "name")[:FILTER_CHOICES]]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            pk = int(value)
        except ValueError:
            return queryset.none()
        column = "contact_list_id" if self.through is ContactListMember else "tag_id"
        return queryset.filter(Exists(self.through.objects.filter(fan_id=OuterRef("pk"), **{column: pk})))


class FanListFilter(_NamedRowsFilter):
    title = "contact list"
    parameter_name = "list"
    model = ContactList
    through = ContactListMember


class FanTagFilter(_NamedRowsFilter):
    title = "tag"
    parameter_name = "tag"
    model = Tag
    through = FanTag


class FanCountryFilter(UnfoldTextFilter):
    title = "country (two-letter code)"
    parameter_name = "country"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().upper()
        return queryset.filter(country=value) if value else queryset


class FanRegionFilter(UnfoldTextFilter):
    title = "region / state"
    parameter_name = "region"

    def queryset(self, request, queryset):
        # Exact, as stored ("TX", "Ontario"): UPPER(region) would defeat the (talent, country, region) index.
        value = (self.value() or "").strip()
        return queryset.filter(region=value) if value else queryset


class FanJoinedFilter(UnfoldDropdownFilter):
    title = "joined"
    parameter_name = "joined"
    WINDOWS = {"7": 7, "30": 30, "90": 90, "365": 365}

    def lookups(self, request, model_admin):
        return [
            ("7", "In the last 7 days"),
            ("30", "In the last 30 days"),
            ("90", "In the last 90 days"),
            ("365", "In the last year"),
            ("older", "More than a year ago"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in self.WINDOWS:
            return queryset.filter(joined_at__gte=timezone.now() - dt.timedelta(days=self.WINDOWS[value]))
        if value == "older":
            return queryset.filter(joined_at__lt=timezone.now() - dt.timedelta(days=365))
        return queryset


class FanEngagementFilter(UnfoldDropdownFilter):
    title = "engagement"
    parameter_name = "engagement"
    COLUMNS = {"replied": "last_reply_at", "clicked": "last_click_at", "received": "last_sent_at"}

    def lookups(self, request, model_admin):
        return [
            ("replied", f"Replied in the last {ENGAGEMENT_DAYS} days"),
            ("clicked", f"Clicked in the last {ENGAGEMENT_DAYS} days"),
            ("received", f"Received a text in the last {ENGAGEMENT_DAYS} days"),
            ("never", "Never texted by us"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in self.COLUMNS:
            since = timezone.now() - dt.timedelta(days=ENGAGEMENT_DAYS)
            return queryset.filter(**{f"{self.COLUMNS[value]}__gte": since})
        if value == "never":
            return queryset.filter(last_sent_at__isnull=True)
        return queryset


FAN_FILTERS = [
    "status",
    FanListFilter,
    FanTagFilter,
    FanCountryFilter,
    FanRegionFilter,
    FanJoinedFilter,
    FanEngagementFilter,
    "source",
    "shares_with_partners",
]


def fan_search(request, queryset, term: str):
    """A number in any format ("4155552671", "(415) 555-2671", "+1 415-555-2671") finds its fan:
    parsed with the current talent's country to E.164 and matched exactly (the unique (talent,
    phone) index). Anything else is left to the name and email prefix search (indexed on
    PostgreSQL, see accounts/migrations). Returns the filtered queryset, or None to fall back."""
    term = (term or "").strip()
    if not term or not any(ch.isdigit() for ch in term) or "@" in term:
        return None
    talent_id = current_talent.current_id(request)
    talent = Talent.objects.filter(pk=talent_id).first() if talent_id else None
    region = audience.talent_region(talent) if talent else django_settings.PHONENUMBER_DEFAULT_REGION
    try:
        e164 = phones.parse(term, region=region)
    except phones.PhoneError:
        return None
    return queryset.filter(phone=e164)


class FanAddForm(forms.Form):
    """A fan the team adds by hand: how they agreed is required, or a signup link goes instead."""

    phone = forms.CharField(
        max_length=32,
        label="Mobile number",
        help_text="Any format; numbers without +country code are read in the talent's country.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    first_name = forms.CharField(max_length=80, required=False)
    last_name = forms.CharField(max_length=80, required=False)
    email = forms.EmailField(required=False)
    how = forms.ChoiceField(
        label="How did this fan agree to receive texts?",
        choices=[
            *audience.CONSENT_HOW.items(),
            ("send_link", "They have not yet: text them a signup link (they join on the signup page)"),
        ],
        widget=forms.RadioSelect,
    )
    consent_note = forms.CharField(
        max_length=150,
        required=False,
        label="Where the evidence is",
        help_text="e.g. 'Paper form, Chicago show, box 3'. Kept on the fan's consent record.",
    )
    confirm = forms.BooleanField(
        required=False,
        label="I confirm this fan agreed to receive recurring texts from the talent",
        help_text="Not needed when you send a signup link.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("how") and cleaned["how"] != "send_link" and not cleaned.get("confirm"):
            self.add_error("confirm", "Confirm the fan agreed, or choose to send them a signup link.")
        return cleaned


def fan_signup_link_send(request, *, talent: Talent, raw_phone: str) -> str:
    """Text a signup link to a number the team typed, under the signup form's own limits.

    Lives in the console layer because it queues a text (the priority lane is above audience).
    Same country, STOP and erasure refusals as an add (audience.console_number_check), and the
    same per-number and per-address rate limits as the signup form's code texts, so the console
    cannot be used to flood a number. Nothing is written but the queued text and an audit row;
    the fan becomes a fan when they complete the signup page (source web, their own consent).
    """
    e164 = audience.console_number_check(talent=talent, raw_phone=raw_phone)
    if not ratelimit.hit("signup-ip", ratelimit.client_ip(request), django_settings.RATELIMIT_SIGNUP_PER_IP):
        raise audience.AudienceError("Too many signup texts from here in the last hour; try again later.")
    if not ratelimit.hit("signup-phone", f"{talent.pk}:{e164}", django_settings.RATELIMIT_SIGNUP_PER_PHONE):
        raise audience.AudienceError("This number was sent several signup texts in the last hour; try again later.")
    token = join_tokens.make_token(talent=talent, phone=e164)
    url = django_settings.PUBLIC_BASE_URL + reverse("accounts:join", args=[talent.slug]) + "?t=" + token
    with transaction.atomic():
        priority_message_queue(
            talent=talent, to=e164, body=consent_texts.join_link(talent, url), lane=OutboundMessage.Lane.LINK
        )
        audit("fan.signup_link_sent", talent=talent, actor=request.user, via="console")
    return e164


def fan_add_view(modeladmin, request):
    talent_id = current_talent.current_id(request)
    if talent_id is None:
        modeladmin.message_user(request, "Choose a talent in the header first: a fan belongs to one.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:accounts_fan_changelist"))
    talent = Talent.objects.get(pk=talent_id)
    form = FanAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["how"] == "send_link":
                e164 = fan_signup_link_send(request, talent=talent, raw_phone=data["phone"])
                modeladmin.message_user(
                    request,
                    f"Signup link texted to {phones.display(e164)}. They become a fan when they complete the page.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:accounts_fan_changelist"))
            with transaction.atomic():
                fan = audience.fan_console_add(
                    talent=talent,
                    phone=data["phone"],
                    profile={k: data[k] for k in ("first_name", "last_name", "email")},
                    consent_how=data["how"],
                    consent_note=data["consent_note"],
                    actor=request.user,
                )
                # The confirmation every new fan gets (program, frequency, HELP/STOP), as on signup.
                priority_message_queue(
                    talent=talent,
                    fan=fan,
                    to=str(fan.phone),
                    body=consent_texts.signup_confirmation(talent),
                    lane=OutboundMessage.Lane.COMPLIANCE,
                )
                automation_joins.on_fan_joined(fan=fan, source="console")
        except (audience.AudienceError, PermissionError) as exc:
            form.add_error("phone", str(exc))
        else:
            modeladmin.message_user(request, f"{fan} added; they were texted the welcome message.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:accounts_fan_change", args=[fan.pk]))
    return _render(
        request,
        modeladmin,
        "Add a fan",
        form,
        submit="Add fan",
        intro=f"Adding to {talent}. A fan added by hand is recorded as added in the console, with how they agreed.",
    )


# --- the fan's profile --------------------------------------------------------------------------------------
PROFILE_ROWS = 20
REQUESTED_VIA = [("email", "By email"), ("phone", "By phone"), ("text", "By text message"), ("other", "Other")]


class FanRequestForm(forms.Form):
    """A data request the fan made to the team: how it came in and why, both audited."""

    requested_via = forms.ChoiceField(choices=REQUESTED_VIA, label="The fan asked")
    reason = forms.CharField(
        max_length=200, label="Reason / reference", help_text="e.g. 'email of 3 March, ticket 512'"
    )


class FanEraseForm(FanRequestForm):
    confirm = forms.BooleanField(
        label="Erase this fan's personal data and texts for good",
        help_text="Their number is kept only as a one-way hash, so an import cannot add them back.",
    )


class FanListForm(forms.Form):
    contact_list = forms.ModelChoiceField(queryset=ContactList.objects.none(), label="Add to list")

    def __init__(self, *args, talent_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].queryset = ContactList.objects.filter(talent_id=talent_id)


class FanTagForm(forms.Form):
    tag = forms.CharField(max_length=60, label="Tag", help_text="An existing tag, or a new one.")


def fan_profile_context(request, fan: Fan) -> dict:
    """What the fan's page shows beside the edit form: consents with their versions, lists,
    tags, campaigns received, clicks, the latest texts both ways (the conversation)."""
    campaigns = list(
        fan.outbound_messages.filter(kind=OutboundMessage.Kind.CAMPAIGN)
        .select_related("campaign")
        .order_by("-created_at")[:PROFILE_ROWS]
    )
    clicks = list(
        Click.objects.filter(fan=fan).select_related("link", "link__campaign").order_by("-clicked_at")[:PROFILE_ROWS]
    )
    consents = list(fan.consents.select_related("terms", "privacy").order_by("-created_at")[:PROFILE_ROWS])
    lists = list(ContactList.objects.filter(memberships__fan=fan).order_by("name"))
    tags = list(Tag.objects.filter(fan_tags__fan=fan).order_by("name"))
    can_edit = permissions.can(request.user, "edit_audience", fan.talent_id)
    return {
        "fan_profile": {
            "fan": fan,
            "tz": str(fan.tz),
            "campaigns": campaigns,
            "clicks": clicks,
            "consents": consents,
            "lists": lists,
            "tags": tags,
            "inbox_url": reverse("admin:messaging_inboundmessage_changelist") + f"?fan__id__exact={fan.pk}",
            "can_edit": can_edit and fan.status != Fan.Status.ERASED,
            "list_form": FanListForm(talent_id=fan.talent_id, prefix="list") if can_edit else None,
            "tag_form": FanTagForm(prefix="tag") if can_edit else None,
            "request_form": FanRequestForm(prefix="export") if can_edit else None,
            "erase_form": FanEraseForm(prefix="erase") if can_edit else None,
            "tag_names": list(Tag.objects.filter(talent_id=fan.talent_id).values_list("name", flat=True)[:500]),
        }
    }


def fan_action_view(modeladmin, request, object_id: str, action: str):
    """The profile's buttons: add to list, tag, export the fan's data, erase (POST only)."""
    fan = modeladmin.get_object(request, object_id)
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:accounts_fan_change", args=[fan.pk]))
    if not permissions.can(request.user, "edit_audience", fan.talent_id):
        raise PermissionDenied
    back = HttpResponseRedirect(reverse("admin:accounts_fan_change", args=[fan.pk]))
    if fan.status == Fan.Status.ERASED:
        modeladmin.message_user(request, "This fan was erased: nothing is left to change.", messages.ERROR)
        return back
    if action == "list":
        form = FanListForm(request.POST, talent_id=fan.talent_id, prefix="list")
        if form.is_valid():
            cl = form.cleaned_data["contact_list"]
            n = audience.contact_list_add_fans(contact_list=cl, fans=Fan.objects.filter(pk=fan.pk), actor=request.user)
            modeladmin.message_user(request, f"Added to {cl}." if n else f"Already in {cl}.", messages.SUCCESS)
        else:
            modeladmin.message_user(request, "Choose one of the talent's lists.", messages.ERROR)
        return back
    if action == "tag":
        form = FanTagForm(request.POST, prefix="tag")
        if form.is_valid():
            try:
                audience.fan_tags_add(
                    talent=fan.talent,
                    tag_name=form.cleaned_data["tag"],
                    fans=Fan.objects.filter(pk=fan.pk),
                    actor=request.user,
                )
            except audience.AudienceError as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
            else:
                modeladmin.message_user(request, f"Tagged {form.cleaned_data['tag']!r}.", messages.SUCCESS)
        else:
            modeladmin.message_user(request, "A tag name has 1 to 60 characters.", messages.ERROR)
        return back
    if action == "export":
        form = FanRequestForm(request.POST, prefix="export")
        if not form.is_valid():
            modeladmin.message_user(request, "Say how the fan asked and why, to export their data.", messages.ERROR)
            return back
        data = fan_data_export(fan=fan)
        audit(
            "fan.data_exported",
            talent=fan.talent,
            actor=request.user,
            obj=fan,
            requested_via=form.cleaned_data["requested_via"],
            reason=form.cleaned_data["reason"],
        )
        response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="fan-{fan.pk}-data.json"'
        response["Cache-Control"] = "no-store"
        return response
    if action == "erase":
        form = FanEraseForm(request.POST, prefix="erase")
        if not form.is_valid():
            modeladmin.message_user(
                request, "To erase, say how the fan asked and why, and tick the confirmation.", messages.ERROR
            )
            return back
        reason = f"fan request by {form.cleaned_data['requested_via']}: {form.cleaned_data['reason']}"
        fan_erase(fan=fan, actor=request.user, reason=reason[:200])
        modeladmin.message_user(request, f"Fan #{fan.pk} erased. The audit log keeps who and why.", messages.SUCCESS)
        return back
    raise Http404("No such action.")
