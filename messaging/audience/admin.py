"""Console pages for the audience: contact lists, segments (a form-built rule builder with a live
count and sample), tags, CSV imports with a downloadable error report, and streamed exports.

Pages stay thin: forms validate, services in messaging/audience.py act.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import current_talent, permissions
from accounts.admin_scoping import TalentScopedAdmin, drop_talent, pinned_talent_field, scope_related
from accounts.countries import COUNTRY_NAMES
from accounts.phones import known_zones
from accounts.models import Fan, Talent
from messaging.audience import exports, imports
from messaging.audience import services as audience
from messaging.audience.exports import DEFAULT_EXPORT_COLUMNS, EXPORT_AUDIENCES, EXPORT_COLUMNS
from messaging.audience.imports import ImportRefused
from messaging.audience.models import validate_definition
from messaging.audience.rules import FIELDS, SegmentRuleError, describe
from messaging.models import ContactList, ExportAudit, ImportBatch, Segment, Tag

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


def _builder_fields() -> dict:
    field_choices = [("", "---------")] + [(name, spec.label) for name, spec in FIELDS.items()]
    op_choices = [("", "(default)")] + list(OP_LABELS.items())
    help_lines = "; ".join(f"{spec.label}: {spec.help}" for spec in FIELDS.values() if spec.help)
    attrs = {}
    for i in range(BUILDER_ROWS):
        attrs[f"cond_{i}_negate"] = forms.BooleanField(required=False, label="NOT")
        attrs[f"cond_{i}_field"] = forms.ChoiceField(choices=field_choices, required=False, label=f"Condition {i + 1}")
        attrs[f"cond_{i}_op"] = forms.ChoiceField(choices=op_choices, required=False, label="operator")
        attrs[f"cond_{i}_value"] = forms.CharField(
            required=False,
            label="value",
            help_text=("Lists of values are comma-separated. " + help_lines) if i == 0 else "",
        )
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
                ("Who is in it", {"fields": ["rules", "match", *rows]}),
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

    def clean(self):
        cleaned = super().clean()
        cleaned["audience"] = cleaned.get("audience") or "reachable"
        if cleaned.get("audience") == "opted_out":
            if len((cleaned.get("purpose") or "").strip()) < 5:
                self.add_error("purpose", "Say why you export fans who opted out; the reason is recorded.")
            if cleaned.get("for_partner"):
                self.add_error("for_partner", "Fans who opted out are never exported for a partner.")
        return cleaned


def export_view(modeladmin, request, *, segment: Segment | None = None, contact_list: ContactList | None = None):
    source = segment or contact_list
    if not (request.user.is_staff and permissions.can(request.user, "export", source.talent_id)):
        raise PermissionDenied("Exports need the export permission (owner or analyst).")
    form = ExportForm(request.POST or None)
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
        return getattr(obj, "_members", None) if getattr(obj, "_members", None) is not None else obj.memberships.count()

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
        return getattr(obj, "_fans", 0)


# --- imports --------------------------------------------------------------------------------------------------
class ImportForm(forms.Form):
    talent = forms.ModelChoiceField(queryset=Talent.objects.none())
    file = forms.FileField(
        help_text="CSV, UTF-8, with a header row. A phone column is required; "
        "first_name, last_name, email, birth_date, city, region, postal_code, country, "
        "time_zone and tags (separated by ;) are read when present."
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

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["talent"].queryset = scope_related(request, Talent.objects.all(), "edit_audience")
        talent_id = current_talent.current_id(request)
        if talent_id is not None:  # one talent at a time: no dropdown, the current one (see admin_scoping)
            self.fields["talent"] = pinned_talent_field(talent_id)
        self.fields["contact_list"].queryset = scope_related(
            request, ContactList.objects.select_related("talent"), "edit_audience"
        )

    def clean_file(self):
        from django.conf import settings

        upload = self.cleaned_data["file"]
        if upload.size > settings.AUDIENCE_IMPORT_MAX_BYTES:
            raise ValidationError(f"The file is larger than {settings.AUDIENCE_IMPORT_MAX_BYTES:,} bytes; split it.")
        return upload

    def clean(self):
        cleaned = super().clean()
        cl, talent = cleaned.get("contact_list"), cleaned.get("talent")
        if cl and talent and cl.talent_id != talent.pk:
            self.add_error("contact_list", "That list belongs to another talent.")
        if cleaned.get("consent_date") and cleaned["consent_date"] > timezone.localdate():
            self.add_error("consent_date", "The consent date is in the future.")
        return cleaned


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
        form = ImportForm(request.POST or None, request.FILES or None, request=request)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                batch = imports.import_batch_create(
                    talent=data["talent"],
                    file=data["file"],
                    original_name=data["file"].name,
                    consent_source=data["consent_source"],
                    consent_date=data["consent_date"],
                    default_region=data["default_region"],
                    contact_list=data["contact_list"],
                    actor=request.user,
                )
            except (ImportRefused, PermissionError) as exc:
                form.add_error(None, f"Import refused: {exc}.")
            else:
                batch = imports.import_batch_start(batch=batch)
                _announce(request, batch)
                return HttpResponseRedirect(reverse("admin:messaging_importbatch_change", args=[batch.pk]))
        return _render(request, self, "Import fans from a CSV", form, submit="Import")

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
        "row_count",
        "completed",
        "via",
    ]
    list_filter = ["for_partner", "completed", "via"]
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
