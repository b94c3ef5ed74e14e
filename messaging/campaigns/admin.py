"""Console pages for campaigns: compose with a live preview, schedule, approve, control, report.

Every button and list action calls a service in messaging/services/campaigns.py; the page never
changes a campaign's status itself. Date-times on the page are in the talent's time zone.
"""

from __future__ import annotations

import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from accounts import current_talent, permissions
from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import Talent
from messaging.campaigns.render import validate_body
from messaging.campaigns.services import (
    campaign_approve,
    campaign_cancel,
    campaign_estimate,
    campaign_pause,
    campaign_report,
    campaign_resume,
    campaign_schedule,
    campaign_send_test,
)
from messaging.models import Campaign, CampaignStateError, TrackedLink

CS = Campaign.Status


class CampaignForm(forms.ModelForm):
    media_url = forms.URLField(
        required=False, assume_scheme="https", help_text="An image sent as MMS (or upload one below)."
    )

    class Meta:
        model = Campaign
        fields = [
            "talent",
            "name",
            "body",
            "media_url",
            "media_file",
            "include_lists",
            "include_segments",
            "exclude_lists",
            "exclude_segments",
            "schedule_mode",
            "send_at",
            "local_date",
            "local_time",
            "late_policy",
            "ignore_quiet_hours",
            "relevance_hours",
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 5, "cols": 70, "data-segment-counter": "1"})}

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
        if talent is not None:
            for name in ["include_lists", "include_segments", "exclude_lists", "exclude_segments"]:
                foreign = [str(x) for x in data.get(name) or [] if x.talent_id != talent.pk]
                if foreign:
                    self.add_error(name, f"Not lists or segments of {talent}: {', '.join(foreign)}.")
        if data.get("media_url") and data.get("media_file"):
            self.add_error("media_file", "Give an image URL or upload an image, not both.")
        return data


def _talent_zone(request, obj: Campaign | None) -> zoneinfo.ZoneInfo | None:
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


@admin.register(Campaign)
class CampaignAdmin(TalentScopedAdmin):
    form = CampaignForm
    edit_capability = "compose"
    list_display = ["name", "talent", "status", "send_at", "recipients_count", "created_at"]
    list_filter = ["status"]
    list_select_related = ["talent"]
    search_fields = ["name"]
    filter_horizontal = ["include_lists", "exclude_lists", "include_segments", "exclude_segments"]
    actions = ["approve_selected", "pause_selected", "resume_selected", "cancel_selected"]
    change_form_template = "admin/messaging/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["talent", "name", "body", "media_url", "media_file"]}),
        ("Audience", {"fields": ["include_lists", "include_segments", "exclude_lists", "exclude_segments"]}),
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
                "until morning unless the message is not marketing.",
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

    # --- the form ------------------------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
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
        zone = _talent_zone(request, obj)
        extra_context = dict(extra_context or {})
        if obj is not None:
            extra_context.update(self._panel_context(request, obj))
        if zone is None:
            return super().changeform_view(request, object_id, form_url, extra_context)
        with timezone.override(zone):
            extra_context["talent_zone"] = str(zone)
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # render while the talent's zone is active
            return response

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
        can_compose = permissions.can(user, "compose", obj.talent_id)
        return {
            "estimate": estimate,
            "part_price": estimate.cost / estimate.parts_total if estimate.parts_total else None,
            "buttons": [
                (name, label)
                for name, label, states, capability in BUTTONS
                if obj.status in states and permissions.can(user, capability, obj.talent_id)
            ],
            "can_test": can_compose,
            "test_phone": request.session.get("campaign_test_phone", ""),
            "report_url": reverse("admin:messaging_campaign_report", args=[obj.pk]),
            "preview_url": reverse("admin:messaging_campaign_preview", args=[obj.pk]),
            "links": list(TrackedLink.objects.filter(campaign=obj)),
        }

    # --- extra pages -----------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/report/", wrap(self.report_view), name="messaging_campaign_report"),
            path("<int:object_id>/preview/", wrap(self.preview_view), name="messaging_campaign_preview"),
            path("<int:object_id>/test/", wrap(self.test_view), name="messaging_campaign_test"),
            path("<int:object_id>/do/<str:action>/", wrap(self.action_view), name="messaging_campaign_action"),
            *super().get_urls(),
        ]

    def _obj(self, request, object_id: int, capability: str) -> Campaign:
        obj = self.get_object(request, str(object_id))  # 404 for another talent's campaign
        if not permissions.can(request.user, capability, obj.talent_id):
            raise PermissionDenied
        return obj

    def report_view(self, request, object_id: int):
        obj = self._obj(request, object_id, "view")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Report: {obj.name}",
            "report": campaign_report(campaign=obj),
        }
        return TemplateResponse(request, "admin/messaging/campaign/report.html", context)

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
        return JsonResponse(
            {
                "preview": estimate.preview,
                "encoding": estimate.info.encoding,
                "parts": estimate.info.parts,
                "units": estimate.info.units,
                "per_part": estimate.info.per_part,
                "non_gsm": list(estimate.info.non_gsm),
                "recipients": estimate.recipients,
                "parts_total": estimate.parts_total,
                "cost": estimate.cost,
                "errors": errors,
            }
        )

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
            if not permissions.can(request.user, capability, obj.talent_id):
                raise PermissionDenied(f"Your role may not {action} campaigns.")
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
                if not permissions.can(request.user, capability, campaign.talent_id):
                    raise PermissionDenied(f"Your role may not {action} campaigns.")
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
BUTTONS = [
    ("schedule", "Schedule", {CS.DRAFT}, "compose"),
    ("approve", "Approve", {CS.AWAITING_APPROVAL}, "approve"),
    ("pause", "Pause", {CS.SCHEDULED, CS.SENDING}, "compose"),
    ("resume", "Resume", {CS.PAUSED}, "compose"),
    ("cancel", "Cancel campaign", {CS.DRAFT, CS.AWAITING_APPROVAL, CS.SCHEDULED, CS.SENDING, CS.PAUSED}, "compose"),
]
