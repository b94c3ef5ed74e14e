"""Console pages of the welcome series, date messages and "next 24 hours" (issue 14 §2, §4).

Thin: every button calls a service in series.py / dates.py. Scoped to the current talent by
TalentScopedAdmin (other talents' automations answer 404); changing one takes the campaign
composer's capability ("compose"), seeing one "view". Times are shown in the talent's zone.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from unfold.admin import StackedInline

from accounts import current_talent, permissions
from accounts.admin_scoping import OneEditRule, ReadOnlyAdmin, TalentScopedAdmin
from messaging.automations import dates, series
from messaging.automations.series_models import (
    MAX_DELAY_MINUTES,
    MAX_STEPS,
    AutomationStatus,
    DateMessage,
    UpcomingAutomation,
    WelcomeSeries,
    WelcomeStep,
)
from messaging.campaigns.render import validate_body

AS = AutomationStatus
UNITS = {"minutes": 1, "hours": 60, "days": 24 * 60}
# (action, button label, statuses it shows on)
BUTTONS = [
    ("go_live", "Go live", {AS.DRAFT}),
    ("pause", "Pause", {AS.LIVE}),
    ("resume", "Resume", {AS.PAUSED}),
    ("cancel", "Cancel for everyone", {AS.DRAFT, AS.LIVE, AS.PAUSED}),
]


class BodyChecked(forms.ModelForm):
    """Merge fields and tracked links checked as the campaign composer checks them."""

    def clean_body(self):
        body = self.cleaned_data.get("body", "")
        validate_body(body)
        return body


class StepForm(BodyChecked):
    """The wait as an amount and a unit ("2 days"), stored as minutes."""

    wait = forms.IntegerField(min_value=1, label="Wait", initial=10)
    unit = forms.ChoiceField(choices=[(u, u) for u in UNITS], initial="minutes", label="Minutes, hours or days")

    class Meta:
        model = WelcomeStep
        fields = ["position", "wait", "unit", "body", "not_marketing", "only_source", "only_keyword"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        minutes = self.instance.delay_minutes if self.instance.pk else None
        if minutes:
            unit = next(u for u in ("days", "hours", "minutes") if minutes % UNITS[u] == 0)
            self.initial.update(wait=minutes // UNITS[unit], unit=unit)
        self.fields["position"].label = "Step number"
        self.fields["position"].help_text = f"1 to {MAX_STEPS}, in the order they go out."

    def clean(self):
        data = super().clean()
        wait, unit = data.get("wait"), data.get("unit")
        if wait and unit in UNITS:
            minutes = wait * UNITS[unit]
            if minutes > MAX_DELAY_MINUTES:
                self.add_error("wait", "A step waits at most 7 days.")
            else:
                self.instance.delay_minutes = minutes
        return data


class StepFormSet(BaseInlineFormSet):
    def clean(self):
        # Our rules first: they say "step number" where the stock unique check says "position".
        kept = [
            f.cleaned_data
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("position")
        ]
        try:
            series.series_check_steps(kept)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc
        super().clean()


class StepInline(OneEditRule, StackedInline):
    model = WelcomeStep
    form = StepForm
    formset = StepFormSet
    extra = 1
    max_num = MAX_STEPS
    verbose_name = "text"
    verbose_name_plural = "texts (up to five)"

    def may_edit(self, request, obj=None) -> bool:
        if obj is not None and obj.status == AS.CANCELLED:
            return False  # a cancelled series is history: read it, do not rewrite it
        return permissions.can(request.user, "compose", obj.talent_id if obj else current_talent.current_id(request))

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.can(request.user, "view", obj.talent_id if obj else current_talent.current_id(request))

    def get_extra(self, request, obj=None, **kwargs) -> int:
        return 2 if obj is None else 1  # a new series: room for two texts; blank ones are ignored


class AutomationAdminMixin:
    """Buttons (go live, pause, resume, cancel) posting to <id>/do/<action>/."""

    services: dict = {}
    url_name = ""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/do/<str:action>/", wrap(self.action_view), name=f"{self.url_name}_action"),
            *super().get_urls(),
        ]

    def action_view(self, request, object_id: int, action: str):
        if action not in self.services:
            raise Http404
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        return require_POST(lambda req: self._run(req, obj, action))(request)

    def _run(self, request, obj, action):
        try:
            self.services[action](obj, request.user)
        except (ValidationError, PermissionDenied) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, text or "Not allowed.", messages.ERROR)
        else:
            obj.refresh_from_db()
            self.message_user(request, f"{obj.name}: {obj.get_status_display().lower()}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"admin:{self.url_name}_change", args=[obj.pk]))

    def buttons(self, request, obj):
        if obj is None or not permissions.can(request.user, "compose", obj.talent_id):
            return []
        return [(name, label) for name, label, shown in BUTTONS if obj.status in shown]

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.status == AS.CANCELLED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Only drafts: a series that ran has reports and fans' history hanging off it (cancel it).
        if obj is not None and obj.status != AS.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(WelcomeSeries)
class WelcomeSeriesAdmin(AutomationAdminMixin, TalentScopedAdmin):
    edit_capability = "compose"
    url_name = "messaging_welcomeseries"
    services = {
        "go_live": lambda obj, actor: series.series_go_live(series=obj, actor=actor),
        "pause": lambda obj, actor: series.series_pause(series=obj, actor=actor),
        "resume": lambda obj, actor: series.series_resume(series=obj, actor=actor),
        "cancel": lambda obj, actor: series.series_cancel(series=obj, actor=actor),
    }
    list_display = ["name", "status", "live_since", "talent"]
    list_filter = ["status"]
    fields = ["talent", "name", "include_imported", "status", "live_since"]
    readonly_fields = ["status", "live_since"]
    inlines = [StepInline]
    change_form_template = "admin/automations/automation_change_form.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/report/", wrap(self.report_view), name="messaging_welcomeseries_report"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        talent = obj.talent if obj else current_talent.current(request)
        context.update(
            buttons=self.buttons(request, obj),
            action_url="admin:messaging_welcomeseries_action",
            report_url=reverse("admin:messaging_welcomeseries_report", args=[obj.pk]) if obj else "",
            welcome_text=getattr(talent, "welcome_text", ""),
            is_series=True,
            talent_zone=getattr(talent, "default_time_zone", ""),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.status in (AS.LIVE, AS.PAUSED):
            # Fans waiting for a step get the edited wait; texts already handed over keep theirs.
            series.series_steps_changed(series=form.instance)

    def report_view(self, request, object_id: int):
        obj = self.get_object(request, str(object_id))  # 404 for another talent's series
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Report: {obj.name}",
            "rows": series.series_report(series=obj),
            "zone": obj.talent.default_time_zone,
        }
        return TemplateResponse(request, "admin/automations/series_report.html", context)


class DateMessageForm(BodyChecked):
    class Meta:
        model = DateMessage
        fields = ["talent", "name", "kind", "days", "local_time", "body"]

    def clean(self):
        data = super().clean()
        try:
            dates.date_message_check(kind=data.get("kind", ""), days=data.get("days"))
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict) from exc
        return data


@admin.register(DateMessage)
class DateMessageAdmin(AutomationAdminMixin, TalentScopedAdmin):
    edit_capability = "compose"
    url_name = "messaging_datemessage"
    form = DateMessageForm
    services = {
        "go_live": lambda obj, actor: dates.date_message_go_live(message=obj, actor=actor),
        "pause": lambda obj, actor: dates.date_message_pause(message=obj, actor=actor),
        "resume": lambda obj, actor: dates.date_message_resume(message=obj, actor=actor),
        "cancel": lambda obj, actor: dates.date_message_cancel(message=obj, actor=actor),
    }
    list_display = ["name", "kind", "local_time", "status", "live_since", "talent"]
    list_filter = ["status", "kind"]
    fields = ["talent", "name", "kind", "days", "local_time", "body", "status", "live_since"]
    readonly_fields = ["status", "live_since"]
    change_form_template = "admin/automations/automation_change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        talent = obj.talent if obj else current_talent.current(request)
        context.update(
            buttons=self.buttons(request, obj),
            action_url="admin:messaging_datemessage_action",
            talent_zone=getattr(talent, "default_time_zone", ""),
            is_series=False,
        )
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(UpcomingAutomation)
class UpcomingAutomationAdmin(ReadOnlyAdmin):
    """One page, no rows of its own: what the automations will send in the next 24 hours."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = current_talent.talent_ids(request, "view")
        talent = current_talent.current(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Automated texts: the next 24 hours",
            "rows": series.automations_upcoming(talent_ids=ids),
            "until": timezone.now() + dt.timedelta(hours=24),
            "zone": talent.default_time_zone if talent else "",
        }
        return TemplateResponse(request, "admin/automations/upcoming.html", context)
