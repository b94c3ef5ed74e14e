"""CSV imports: upload (staged and previewed), map the columns, confirm the consent, then the batch page
with its downloadable error report."""

from __future__ import annotations

from django import forms
from django.conf import settings as django_settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import current_talent
from accounts.actors import NotAllowed
from accounts.admin_scoping import TalentScopedAdmin, pinned_talent_field, scope_related
from accounts.models import Talent
from messaging.audience import import_staging, imports
from messaging.audience.admin.common import render_form
from messaging.audience.imports import ImportRefused
from messaging.models import ContactList, ImportBatch


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
        choices = [(import_staging.IGNORE, "(do not import)")] + [
            (name, name.replace("_", " ")) for name in import_staging.MAPPABLE
        ]
        for index, header in enumerate(self.columns):
            self.fields[f"map_{index}"] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=f"Column {index + 1} ({header[:40] or 'no header'})",
                initial=(guess or {}).get(index, import_staging.IGNORE),
            )

    def mapping(self) -> dict[int, str]:
        return {i: self.cleaned_data.get(f"map_{i}") or import_staging.IGNORE for i in range(len(self.columns))}

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


def _session_staged(request, token: str) -> import_staging.StagedImport | None:
    """A staged upload of this session (tokens are unguessable, and bound to the session too)."""
    entry = request.session.get(_STAGED_SESSION_KEY, {}).get(token or "")
    if not entry:
        return None
    staged = import_staging.StagedImport(token, entry["talent"], entry["name"])
    return staged if import_staging.staged_exists(staged) else None


def _remember_staged(request, staged: import_staging.StagedImport) -> None:
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
            import_staging.staged_discard(staged)  # a new file replaces the one kept before
        try:
            staged = import_staging.import_stage(
                talent=talent, upload=upload, original_name=upload.name, actor=request.user
            )
        except (ImportRefused, NotAllowed) as exc:
            probe.add_error("file", f"Import refused: {exc}.")
            return _import_page(request, modeladmin, probe, None, None)
        _remember_staged(request, staged)
    if staged is not None:
        try:
            columns, rows, guess = import_staging.staged_preview(staged)
        except ImportRefused as exc:
            import_staging.staged_discard(staged)
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
        mapped = import_staging.staged_apply_mapping(staged, form.mapping())
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
    except (ImportRefused, NotAllowed) as exc:
        form.add_error(None, f"Import refused: {exc}.")
        return _import_page(request, modeladmin, form, preview, staged)
    import_staging.staged_discard(staged)
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
    return render_form(
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
        response = HttpResponse(import_staging.SAMPLE_CSV, content_type="text/csv; charset=utf-8")
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
