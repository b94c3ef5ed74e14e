"""Streamed exports of a segment or a list, and the export log (who, when, which columns, how many rows)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.actors import NotAllowed, require
from accounts.admin_scoping import ReadOnlyAdmin
from consent.models import Partner
from messaging.audience import exports
from messaging.audience import services as audience
from messaging.audience.admin.common import render_form
from messaging.audience.exports import DEFAULT_EXPORT_COLUMNS, EXPORT_AUDIENCES, EXPORT_COLUMNS
from messaging.models import ContactList, ExportAudit, Segment


# --- the export log --------------------------------------------------------------------------------------
@admin.register(ExportAudit)
class ExportAuditAdmin(ReadOnlyAdmin):
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
    refusal = "Exports need the export permission (owner or analyst)."
    if not request.user.is_staff:
        raise NotAllowed(refusal)
    require(request.user, "export", source.talent, refusal=refusal)
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
        except (audience.AudienceError, NotAllowed) as exc:
            form.add_error(None, str(exc))
        else:
            return export.download()
    counts = exports.export_counts(segment=segment, contact_list=contact_list)
    # The row count before anything downloads; erased fans are only ever a count.
    count_lines = [
        f"{counts['reachable']:,} reachable fans (active, consented): the rows of a default export.",
        f"{counts['opted_out']:,} opted out: exported only as a suppression list, with a reason.",
        f"{counts['pending']:,} pending (never agreed) and {counts['erased']:,} erased: never exported.",
    ]
    if counts["undeliverable"]:
        count_lines.insert(
            1,
            f"{counts['undeliverable']:,} active but their number cannot receive texts (the provider said so): not exported.",
        )
    if counts["held"]:
        count_lines.append(f"{counts['held']:,} held (a possible opt-out not decided yet): not exported until decided.")
    if form.fields["partner"].queryset.exists():
        # A partner export (issue 15) holds the reachable fans who agreed to sharing.
        shared = exports.export_queryset(segment=segment, contact_list=contact_list, for_partner=True).count()
        count_lines.insert(1, f"{shared:,} of them agreed to share with partners: the rows of a partner export.")
    return render_form(
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
