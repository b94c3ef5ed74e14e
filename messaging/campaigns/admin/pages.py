"""The campaign pages: the changelist with its results columns, and the change form (the composer's
form and widgets are in composer.py; the report, schedule confirmation, test send, previews and the
list actions in controls.py, mixed in).

Every button and list action calls a service in messaging/campaigns/services.py; the page never
changes a campaign's status itself. Date-times on the page are in the talent's time zone.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.actors import allows
from accounts.admin_scoping import TalentScopedAdmin
from messaging.campaigns.admin.composer import (
    AUDIENCE_FIELDS,
    CampaignForm,
    in_talent_zone,
    talent_zone,
)
from messaging.campaigns.admin.controls import BUTTONS, CampaignPagesMixin
from messaging.campaigns.reports import campaign_sections
from messaging.campaigns.services import (
    campaign_estimate,
    campaign_holds,
)
from messaging.models import Campaign, TrackedLink

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
class CampaignAdmin(CampaignPagesMixin, TalentScopedAdmin):
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
            # What layers above add (issue 13: the poll's tally and themes), as on the report.
            "sections": campaign_sections(campaign=obj, tz=obj.talent.tz),
        }

    @admin.display(description="Report")
    def report_link(self, obj):
        return format_html('<a href="{}">Report</a>', reverse("admin:messaging_campaign_report", args=[obj.pk]))


def _flat(fields) -> list[str]:
    out = []
    for f in fields:
        out.extend(f if isinstance(f, tuple | list) else [f])
    return out
