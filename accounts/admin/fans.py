"""Console pages: Fans (the changelist, profile and add form; their parts live in
messaging/audience/admin/fans.py) and the held fans' two decisions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import path

from accounts.actors import allows
from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import FAN_RECORD_FIELDS, Fan
from consent import texts
from consent.models import ConsentRecord
from consent.services import Evidence, fan_hold_release, fan_opt_out
from messaging.audience.admin import fans as audience_fans
from messaging.audience.admin import lists as audience_lists
from messaging.conversations.priority import priority_message_queue
from messaging.sms.models import OutboundMessage


def _held(modeladmin, request, queryset):
    """The held fans among the selection that this member may decide for (the reply capability)."""
    allowed = [
        fan
        for fan in queryset.filter(status=Fan.Status.HELD).select_related("talent")
        if allows(request.user, "reply", fan.talent_id)
    ]
    skipped = queryset.count() - len(allowed)
    if skipped:
        modeladmin.message_user(
            request, f"{skipped} fan(s) skipped: not held, or not yours to decide.", messages.WARNING
        )
    return allowed


@admin.action(description="Possible opt-out: it did not mean stop (texts resume)")
def release_hold(modeladmin, request, queryset):
    done = sum(fan_hold_release(fan=fan, actor=request.user) for fan in _held(modeladmin, request, queryset))
    modeladmin.message_user(request, f"{done} fan(s) will get texts again.", messages.SUCCESS)


@admin.action(description="Possible opt-out: it meant stop (opt out, confirm by text)")
def opt_out_held(modeladmin, request, queryset):
    done = 0
    for fan in _held(modeladmin, request, queryset):
        evidence = Evidence(method=ConsentRecord.Method.CONSOLE, evidence=f"decided by user {request.user.pk}")
        with transaction.atomic():
            if fan_opt_out(fan=fan, evidence=evidence):
                done += 1
                priority_message_queue(
                    talent=fan.talent,
                    fan=fan,
                    to=str(fan.phone),
                    body=texts.opt_out_confirmation(fan.talent),
                    lane=OutboundMessage.Lane.COMPLIANCE,
                )
    modeladmin.message_user(request, f"{done} fan(s) opted out; each gets the one confirmation.", messages.SUCCESS)


@admin.register(Fan)
class FanAdmin(TalentScopedAdmin):
    """Fans: search by a number in any format, name or email; bounded filters; the profile page
    (messaging/audience/admin/fans.py builds its parts: filters, search, the add form, the profile)."""

    list_display = [
        audience_fans.fan_name, audience_fans.fan_phone, "talent", "status", "country", "region", "source", "joined_at",
    ]  # fmt: skip
    list_display_links = [audience_fans.fan_name]
    list_filter = audience_fans.FAN_FILTERS
    list_filter_submit = True  # unfold's text filters (country, region) apply on a button, no script needed
    list_select_related = ["talent"]
    # Name and email prefixes, served on PostgreSQL by the UPPER(...) text_pattern_ops indexes
    # (accounts/migrations/0007_fan_search_indexes.py); a phone in any format is matched exactly
    # first (get_search_results).
    search_fields = ["^first_name", "^last_name", "^email"]
    search_help_text = "A phone number in any format ((415) 555-2671, 4155552671, +1 415...), a name or an email."
    show_facets = admin.ShowFacets.NEVER
    date_hierarchy = None
    change_form_template = "admin/accounts/fan/change_form.html"
    readonly_fields = list(FAN_RECORD_FIELDS)
    # No delete_selected on a million rows (erasure is a service); list and tag actions call services.
    actions = [*audience_lists.FAN_ACTIONS, release_hold, opt_out_held]

    def get_changelist(self, request, **kwargs):
        return audience_fans.FanChangeList  # rows read the phone as text (no phonenumber parsing per row)

    def get_search_results(self, request, queryset, search_term):
        found = audience_fans.fan_search(request, queryset, search_term)
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    def get_readonly_fields(self, request, obj=None):
        # Consent state is evidence: changed only by services that write a ConsentRecord.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["talent", "phone"]
        return fields

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/do/<slug:action>/",
                wrap(
                    lambda request, object_id, action: audience_fans.fan_action_view(self, request, object_id, action)
                ),
                name="accounts_fan_action",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return audience_fans.fan_add_view(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        fan = self.get_object(request, object_id)
        return super().change_view(
            request, object_id, form_url, {**audience_fans.fan_profile_context(request, fan), **(extra_context or {})}
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # erasure (issue: the fan owns their data) keeps an audit row; no hard delete
