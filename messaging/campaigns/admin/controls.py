"""The campaign's pages beyond its form: report (and CSV), the live estimate JSON, the schedule
confirmation, duplicate, the talent's campaign text settings, preview, test send, the lifecycle
buttons and the list's bulk actions. `CampaignAdmin` (pages.py) takes them as a mixin."""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import current_talent
from accounts.actors import allows, require
from accounts.audit import audit
from accounts.models import Talent
from messaging.campaigns.admin.composer import (
    AudiencePickerWidget,
    TextSettingsForm,
    estimate_json,
    owned_audience,
)
from messaging.campaigns.render import validate_body
from messaging.campaigns.reports import report_section_rows, report_sections
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
from messaging.models import Campaign, CampaignStateError

CS = Campaign.Status


class CampaignPagesMixin:
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
        report = campaign_report(campaign=obj)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Report: {obj.name}",
            "report": report,
            "sections": report_sections(report, tz),  # what layers above add (the poll's figures)
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
        for figure, value in report_section_rows(report):
            writer.writerow([_csv_text(figure), _csv_text(str(value))])
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
