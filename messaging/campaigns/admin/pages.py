"""The campaign pages: the changelist, the change form's buttons and confirmation, reports (page and
CSV), tests and previews, the list actions.

Every button and list action calls a service in messaging/campaigns/services.py; the page never
changes a campaign's status itself. Date-times on the page are in the talent's time zone.
"""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from accounts import current_talent
from accounts.actors import allows, require
from accounts.admin_scoping import TalentScopedAdmin
from accounts.audit import audit
from accounts.models import Talent
from messaging.campaigns.admin.composer import (
    AUDIENCE_FIELDS,
    AudiencePickerWidget,
    CampaignForm,
    TextSettingsForm,
    estimate_json,
    in_talent_zone,
    owned_audience,
    talent_zone,
)
from messaging.campaigns.render import validate_body
from messaging.campaigns.services import (
    audience_estimate,
    campaign_approve,
    campaign_cancel,
    campaign_duplicate,
    campaign_estimate,
    campaign_holds,
    campaign_pause,
    campaign_report,
    campaign_resume,
    campaign_schedule,
    campaign_schedule_plan,
    campaign_send_test,
)
from messaging.models import Campaign, CampaignStateError, TrackedLink

CS = Campaign.Status


class MadeByFilter(admin.SimpleListFilter):
    """Automations hand each due welcome step or date message to the engine as its own campaign
    (messaging/automations/occurrences.py): a live series makes one a minute, which would bury the
    team's own campaigns. They are listed on request; their reports live on the automation's page."""

    title = "made by"
    parameter_name = "made_by"

    def lookups(self, request, model_admin):
        return [("automations", "Automations"), ("all", "Everything")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "The team",
        }
        yield from list(super().choices(changelist))[1:]  # without the stock "All"

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(automation__isnull=self.value() != "automations")


@admin.register(Campaign)
class CampaignAdmin(TalentScopedAdmin):
    form = CampaignForm
    edit_capability = "compose"
    add_label, save_label = "Create campaign", "Save draft"  # only drafts are edited
    list_display = [
        "name",
        "talent",
        "status_words",
        "when",
        "sent_col",
        "delivered_col",
        "ctr_col",
        "reply_col",
        "opt_out_col",
        "cost_col",
    ]
    list_filter = ["status", MadeByFilter]
    list_select_related = ["talent", "scheduled_by"]
    search_fields = ["name"]
    actions = ["approve_selected", "pause_selected", "resume_selected", "cancel_selected", "duplicate_selected"]
    change_form_template = "admin/messaging/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["talent", "name", "body", "audience", "media_url", "media_file"]}),
        (
            "Schedule",
            {
                "fields": [
                    "schedule_mode",
                    "send_at",
                    ("local_date", "local_time"),
                    "late_policy",
                    "ignore_quiet_hours",
                    "relevance_hours",
                ],
                "description": "Times are in the talent's time zone. Quiet hours (fan-local) hold marketing "
                "until morning unless the message is not marketing. The date and time fields apply to the mode "
                "that names them: 'At a date and time' uses Send at; 'At a local time' uses the day and local time.",
            },
        ),
    ]
    status_fields = [
        "status",
        "paused_reason",
        "created_by",
        "scheduled_by",
        "approved_by",
        "approved_at",
        "estimated_recipients",
        "recipients_count",
        "suppressed_count",
        "started_at",
        "finished_at",
    ]

    # --- the list -------------------------------------------------------------------------------
    @admin.display(description="Status", ordering="status")
    def status_words(self, obj):
        if obj.status == CS.AWAITING_APPROVAL:
            who = obj.scheduled_by.get_username() if obj.scheduled_by else "a team member"
            return format_html(
                "<strong>Awaiting approval</strong><br><small>scheduled by {}; an owner or manager other than "
                "them approves</small>",
                who,
            )
        return obj.get_status_display()

    @admin.display(description="When", ordering="send_at")
    def when(self, obj):
        instant = obj.started_at or obj.send_at
        if instant is None:
            return "–"
        local = timezone.localtime(instant, obj.talent.tz)
        return f"{local:%b %-d, %H:%M} {local.tzname()}"

    def _result(self, obj, key: str, kind: str = "int"):
        value = (obj.results or {}).get(key)
        if value is None:
            return "–"
        if kind == "pct":
            return f"{value * 100:.1f}%"
        if kind == "money":
            return f"${value:,.2f}"
        return f"{value:,}"

    @admin.display(description="Sent")
    def sent_col(self, obj):
        return self._result(obj, "sent")

    @admin.display(description="Delivered")
    def delivered_col(self, obj):
        return self._result(obj, "delivered")

    @admin.display(description="Click-through")
    def ctr_col(self, obj):
        return self._result(obj, "click_rate", "pct")

    @admin.display(description="Replies")
    def reply_col(self, obj):
        return self._result(obj, "reply_rate", "pct")

    @admin.display(description="Opt-outs")
    def opt_out_col(self, obj):
        return self._result(obj, "opt_out_rate", "pct")

    @admin.display(description="Cost")
    def cost_col(self, obj):
        return self._result(obj, "cost", "money")

    # --- the form ------------------------------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        fields = kwargs.get("fields")
        if fields is None:
            fields = flatten_fieldsets(self.get_fieldsets(request, obj))
        if "audience" in fields:
            # The picker fills the four audience relations (saved by save_m2m); they are never
            # drawn as fields of their own. (Django passes the fieldsets' fields in explicitly.)
            fields = [f for f in fields if f != "audience"] + AUDIENCE_FIELDS
        kwargs["fields"] = fields
        form = super().get_form(request, obj, change=change, **kwargs)
        form.estimate_url = reverse("admin:messaging_campaign_estimate")
        form.settings_url = reverse("admin:messaging_campaign_text_settings")
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and (not obj.is_editable or obj.status == CS.AWAITING_APPROVAL):
            # Read-only: the audience is shown as names, not as a picker.
            fieldsets = [
                (name, {**opts, "fields": [f if f != "audience" else "audience_summary" for f in opts["fields"]]})
                for name, opts in fieldsets
            ]
        if obj is not None:
            fieldsets.append(("Status", {"fields": self.status_fields}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not obj.is_editable or obj.status == CS.AWAITING_APPROVAL:
            # Scheduled or sent: what was approved and sent must stay what the report shows.
            return [f for fs in self.get_fieldsets(request, obj) for f in _flat(fs[1]["fields"])]
        return self.status_fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        obj = self.get_object(request, object_id) if object_id else None
        zone = talent_zone(request, obj)
        extra_context = dict(extra_context or {})
        if obj is not None:
            extra_context.update(self._panel_context(request, obj))
        view = super().changeform_view
        return in_talent_zone(zone, extra_context, lambda context: view(request, object_id, form_url, context))

    @admin.display(description="Audience")
    def audience_summary(self, obj):
        parts = []
        for label, name in [
            ("Lists", "include_lists"),
            ("Segments", "include_segments"),
            ("Except lists", "exclude_lists"),
            ("Except segments", "exclude_segments"),
        ]:
            names = [str(x) for x in getattr(obj, name).all()]
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        return "; ".join(parts) or "Every active fan"

    def has_delete_permission(self, request, obj=None) -> bool:
        # A campaign that was scheduled is evidence of what was sent: cancel it, never delete it.
        if obj is not None and obj.status != CS.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # would cascade to a million message rows
        return actions

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def _panel_context(self, request, obj: Campaign) -> dict:
        estimate = campaign_estimate(campaign=obj)
        user = request.user
        can_compose = allows(user, "compose", obj.talent_id)
        return {
            "estimate": estimate,
            "part_price": estimate.cost / estimate.parts_total if estimate.parts_total else None,
            "buttons": [
                (name, label)
                for name, label, states, capability in BUTTONS
                if obj.status in states and allows(user, capability, obj.talent_id)
            ],
            "can_test": can_compose,
            "test_phone": request.session.get("campaign_test_phone", ""),
            "report_url": reverse("admin:messaging_campaign_report", args=[obj.pk]),
            "schedule_url": reverse("admin:messaging_campaign_schedule", args=[obj.pk]),
            "duplicate_url": reverse("admin:messaging_campaign_duplicate", args=[obj.pk]),
            "holds": [hold.sentence(obj.talent.tz) for hold in campaign_holds(campaign=obj)]
            if obj.status in (CS.SENDING, CS.PAUSED)
            else [],
            "awaiting_approvers": obj.status == CS.AWAITING_APPROVAL,
            "preview_url": reverse("admin:messaging_campaign_preview", args=[obj.pk]),
            "links": list(TrackedLink.objects.filter(campaign=obj)),
        }

    # --- extra pages -----------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("estimate/", wrap(self.estimate_view), name="messaging_campaign_estimate"),
            path("text-settings/", wrap(self.text_settings_view), name="messaging_campaign_text_settings"),
            path("<int:object_id>/report/", wrap(self.report_view), name="messaging_campaign_report"),
            path("<int:object_id>/report.csv", wrap(self.report_csv_view), name="messaging_campaign_report_csv"),
            path("<int:object_id>/schedule/", wrap(self.schedule_view), name="messaging_campaign_schedule"),
            path("<int:object_id>/duplicate/", wrap(self.duplicate_view), name="messaging_campaign_duplicate"),
            path("<int:object_id>/preview/", wrap(self.preview_view), name="messaging_campaign_preview"),
            path("<int:object_id>/test/", wrap(self.test_view), name="messaging_campaign_test"),
            path("<int:object_id>/do/<str:action>/", wrap(self.action_view), name="messaging_campaign_action"),
            *super().get_urls(),
        ]

    def _obj(self, request, object_id: int, capability: str) -> Campaign:
        obj = self.get_object(request, str(object_id))  # 404 for another talent's campaign
        require(request.user, capability, obj.talent_id)
        return obj

    def report_view(self, request, object_id: int):
        obj = self._obj(request, object_id, "view")
        tz = obj.talent.tz
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Report: {obj.name}",
            "report": campaign_report(campaign=obj),
            "holds": [hold.sentence(tz) for hold in campaign_holds(campaign=obj)],
            "zone": obj.talent.default_time_zone,
            "csv_url": reverse("admin:messaging_campaign_report_csv", args=[obj.pk]),
        }
        return TemplateResponse(request, "admin/messaging/campaign/report.html", context)

    def report_csv_view(self, request, object_id: int):
        """The report's figures as CSV (one figure a row), for a spreadsheet or the talent's label."""
        obj = self._obj(request, object_id, "view")
        report = campaign_report(campaign=obj)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="campaign-{obj.pk}-report.csv"'
        writer = csv.writer(response)
        writer.writerow(["figure", "value"])
        writer.writerow(["campaign", _csv_text(obj.name)])
        writer.writerow(["status", obj.status])
        for key in (
            "recipients", "suppressed", "pending", "uncertain", "cancelled", "sent", "delivered", "failed",
            "clicks", "click_rate", "replies", "reply_rate", "opt_outs", "opt_out_rate", "segments", "cost",
        ):  # fmt: skip
            writer.writerow(["sms_parts" if key == "segments" else key, report[key]])
        for code, n in sorted(report["failed_by_reason"].items()):
            writer.writerow([f"failed_error_{_csv_text(code)}", n])
        started = obj.started_at.isoformat() if obj.started_at else ""
        writer.writerow(["started_at_utc", started])
        return response

    def estimate_view(self, request):
        """JSON for the live composer: counter, preview, recipients and cost of what is typed and
        picked now, saved or not. The talent is the current one (or the form's, for a superuser)."""
        if request.method != "POST":
            return JsonResponse({"error": "POST the composer's fields."}, status=405)
        talent_id = current_talent.current_id(request) or request.POST.get("talent", "")
        if not str(talent_id).isdigit() or not allows(request.user, "compose", int(talent_id)):
            return JsonResponse({"error": "Pick a talent you compose for."}, status=400)
        talent = get_object_or_404(Talent, pk=talent_id)
        body = request.POST.get("body", "")[:5000]
        picked = AudiencePickerWidget().value_from_datadict(request.POST, None, "audience")
        errors: list[str] = []
        if body.strip():
            try:
                validate_body(body)
            except ValidationError as exc:
                errors = exc.messages
        try:
            estimate = audience_estimate(talent=talent, body=body, **owned_audience(talent, picked))
        except ValidationError as exc:
            return JsonResponse({"error": " ".join(exc.messages)}, status=400)
        return JsonResponse(estimate_json(estimate, errors))

    def schedule_view(self, request, object_id: int):
        """GET: what scheduling will do (when, how many, cost, what waits and why). POST: do it."""
        obj = self._obj(request, object_id, "compose")
        if request.method == "POST":
            return self._run(request, obj, "schedule", campaign_schedule, "compose")
        try:
            with timezone.override(obj.talent.tz):
                plan = campaign_schedule_plan(campaign=obj)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:messaging_campaign_change", args=[obj.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Schedule {obj.name}?",
            "plan": plan,
            "zone": obj.talent.default_time_zone,
            "talent": obj.talent,
        }
        return TemplateResponse(request, "admin/messaging/campaign/schedule_confirm.html", context)

    def duplicate_view(self, request, object_id: int):
        obj = self._obj(request, object_id, "compose")
        if request.method != "POST":
            raise Http404
        copy = campaign_duplicate(campaign=obj, actor=request.user)
        self.message_user(request, f"Duplicated as a new draft: {copy.name}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:messaging_campaign_change", args=[copy.pk]))

    def text_settings_view(self, request):
        """The talent's brand prefix and opt-out line (owners: the edit_talent capability)."""
        talent = current_talent.current(request)
        if talent is None:
            self.message_user(request, "Pick a talent first (the switcher in the header).", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:index"))
        require(
            request.user, "edit_talent", talent, refusal="Only the talent's owners change its campaign text settings."
        )
        form = TextSettingsForm(request.POST or None, instance=talent)
        if request.method == "POST" and form.is_valid():
            form.save()
            audit(
                "talent.campaign_texts_changed",
                talent=talent,
                actor=request.user,
                obj=talent,
                prefix=talent.campaign_prefix,
                opt_out_line=talent.opt_out_line,
                when=talent.opt_out_line_when,
            )
            self.message_user(request, "Campaign text settings saved.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Campaign texts of {talent.display_name}",
            "form": form,
            "talent": talent,
        }
        return TemplateResponse(request, "admin/messaging/campaign/text_settings.html", context)

    def preview_view(self, request, object_id: int):
        """JSON for the live counter: the body being typed, rendered for a sample fan."""
        obj = self._obj(request, object_id, "view")
        if request.method != "POST":
            raise Http404
        body = request.POST.get("body", obj.body)[:5000]
        errors: list[str] = []
        try:
            validate_body(body)
        except ValidationError as exc:
            errors = exc.messages
        estimate = campaign_estimate(campaign=obj, body=body)
        return JsonResponse(estimate_json(estimate, errors))

    def test_view(self, request, object_id: int):
        obj = self._obj(request, object_id, "compose")
        if request.method != "POST":
            raise Http404
        phone = request.POST.get("phone", "").strip()
        try:
            campaign_send_test(campaign=obj, to_number=phone, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            request.session["campaign_test_phone"] = phone
            self.message_user(request, f"Test text sent to {phone}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:messaging_campaign_change", args=[obj.pk]))

    def action_view(self, request, object_id: int, action: str):
        spec = {name: (service, capability) for name, (service, capability) in ACTIONS.items()}
        if action not in spec:
            raise Http404
        service, capability = spec[action]
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        return require_POST(lambda req: self._run(req, obj, action, service, capability))(request)

    def _run(self, request, obj, action, service, capability):
        try:
            require(request.user, capability, obj.talent_id, refusal=f"Your role may not {action} campaigns.")
            service(campaign=obj, actor=request.user)
        except (ValidationError, PermissionDenied, CampaignStateError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, text or "Not allowed.", messages.ERROR)
        else:
            obj.refresh_from_db()
            self.message_user(request, f"{obj.name}: {obj.get_status_display().lower()}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:messaging_campaign_change", args=[obj.pk]))

    # --- list actions ---------------------------------------------------------------------------
    def _bulk(self, request, queryset, action: str):
        service, capability = ACTIONS[action]
        done = 0
        for campaign in queryset:
            try:
                require(request.user, capability, campaign.talent_id, refusal=f"Your role may not {action} campaigns.")
                service(campaign=campaign, actor=request.user)
                done += 1
            except (ValidationError, PermissionDenied, CampaignStateError) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{campaign.name}: {text}", messages.ERROR)
        if done:
            self.message_user(request, f"{action.title()}: {done} campaign(s).", messages.SUCCESS)

    @admin.action(description="Approve selected campaigns")
    def approve_selected(self, request, queryset):
        self._bulk(request, queryset, "approve")

    @admin.action(description="Pause selected campaigns")
    def pause_selected(self, request, queryset):
        self._bulk(request, queryset, "pause")

    @admin.action(description="Resume selected campaigns")
    def resume_selected(self, request, queryset):
        self._bulk(request, queryset, "resume")

    @admin.action(description="Cancel selected campaigns")
    def cancel_selected(self, request, queryset):
        self._bulk(request, queryset, "cancel")

    @admin.action(description="Duplicate selected campaigns as drafts")
    def duplicate_selected(self, request, queryset):
        done = 0
        for campaign in queryset:
            try:
                campaign_duplicate(campaign=campaign, actor=request.user)
                done += 1
            except PermissionDenied as exc:
                self.message_user(request, f"{campaign.name}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"Duplicated {done} campaign(s) as drafts.", messages.SUCCESS)

    @admin.display(description="Report")
    def report_link(self, obj):
        return format_html('<a href="{}">Report</a>', reverse("admin:messaging_campaign_report", args=[obj.pk]))


def _flat(fields) -> list[str]:
    out = []
    for f in fields:
        out.extend(f if isinstance(f, tuple | list) else [f])
    return out


ACTIONS = {
    "schedule": (campaign_schedule, "compose"),
    "approve": (campaign_approve, "approve"),
    "pause": (campaign_pause, "compose"),
    "resume": (campaign_resume, "compose"),
    "cancel": (campaign_cancel, "compose"),
}
BUTTONS = [  # "schedule" goes through the confirmation page (schedule_view), not a bare POST
    ("schedule", "Schedule…", {CS.DRAFT}, "compose"),
    ("approve", "Approve", {CS.AWAITING_APPROVAL}, "approve"),
    ("pause", "Pause", {CS.SCHEDULED, CS.SENDING}, "compose"),
    ("resume", "Resume", {CS.PAUSED}, "compose"),
    ("cancel", "Cancel campaign", {CS.DRAFT, CS.AWAITING_APPROVAL, CS.SCHEDULED, CS.SENDING, CS.PAUSED}, "compose"),
]


def _csv_text(value: str) -> str:
    """A free-text cell a spreadsheet must not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
