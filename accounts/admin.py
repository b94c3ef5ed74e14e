"""Console pages for talents, their team, their fans and the audit trail."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import AuditEvent, Fan, Talent, TeamMember
from messaging.audience import admin as audience_admin


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Talent)
class TalentAdmin(TalentScopedAdmin):
    talent_lookup = ""  # the row is the talent itself
    edit_capability = "edit_talent"
    list_display = ["display_name", "slug", "program_name", "sender_number", "parts_per_second", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["display_name", "slug", "program_name"]
    prepopulated_fields = {"slug": ["display_name"]}
    inlines = [TeamMemberInline]
    fieldsets = [
        (None, {"fields": ["display_name", "slug", "program_name", "is_active"]}),
        (
            "Sending",
            {
                "fields": [
                    "sender_number",
                    "messaging_service_sid",
                    "parts_per_second",
                    "daily_frequency_cap",
                    "approval_threshold",
                ]
            },
        ),
        (
            "Fans",
            {"fields": ["default_time_zone", "min_age", "served_countries", "quiet_hours_start", "quiet_hours_end"]},
        ),
        ("Texts", {"fields": ["message_frequency", "support_contact", "help_text", "welcome_text", "data_keyword"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser  # a new tenant is an operator's decision

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(TeamMember)
class TeamMemberAdmin(TalentScopedAdmin):
    edit_capability = "manage_team"
    list_display = ["user", "talent", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "talent"]
    raw_id_fields = ["user"]
    search_fields = ["user__username", "user__email"]


@admin.register(Fan)
class FanAdmin(TalentScopedAdmin):
    list_display = ["__str__", "phone", "talent", "status", "country", "city", "source", "joined_at"]
    list_filter = ["status", "source", "shares_with_partners"]
    list_select_related = ["talent"]
    # "=" and "^" prefixes keep searches on indexes over a million fans.
    search_fields = ["=phone", "^last_name", "^first_name", "=email", "^postal_code"]
    show_facets = admin.ShowFacets.NEVER
    date_hierarchy = None
    readonly_fields = [
        "status",
        "shares_with_partners",
        "source",
        "joined_at",
        "opted_out_at",
        "last_sent_at",
        "last_reply_at",
        "last_click_at",
        "created_at",
        "updated_at",
    ]
    # No delete_selected on a million rows (erasure is a service); list and tag actions call services.
    actions = audience_admin.FAN_ACTIONS

    def get_readonly_fields(self, request, obj=None):
        # Consent state is evidence: changed only by services that write a ConsentRecord.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["talent", "phone"]
        return fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # erasure (issue: the fan owns their data) keeps an audit row; no hard delete


@admin.register(AuditEvent)
class AuditEventAdmin(TalentScopedAdmin):
    list_display = ["created_at", "action", "talent", "actor", "object_type", "object_id"]
    list_filter = ["action"]
    list_select_related = ["talent", "actor"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
