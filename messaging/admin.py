"""Console pages for campaigns, audiences and messages."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import TalentScopedAdmin
from messaging.models import Campaign, ContactList, InboundMessage, OutboundMessage, Segment


@admin.register(ContactList)
class ContactListAdmin(TalentScopedAdmin):
    list_display = ["name", "talent", "created_at"]
    list_select_related = ["talent"]
    exclude = ["fans"]


@admin.register(Segment)
class SegmentAdmin(TalentScopedAdmin):
    list_display = ["name", "talent", "is_builtin", "updated_at"]
    list_select_related = ["talent"]


@admin.register(Campaign)
class CampaignAdmin(TalentScopedAdmin):
    edit_capability = "compose"
    list_display = ["name", "talent", "status", "send_at", "created_at"]
    list_filter = ["status"]
    list_select_related = ["talent"]
    readonly_fields = ["status", "created_by"]
    filter_horizontal = ["include_lists", "exclude_lists", "include_segments", "exclude_segments"]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(TalentScopedAdmin):
    edit_capability = "reply"
    list_display = ["created_at", "to_number", "kind", "status", "talent", "campaign", "error_code"]
    list_filter = ["kind", "status"]
    list_select_related = ["talent", "campaign"]
    search_fields = ["=to_number", "=provider_sid"]
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
    actions: list = []

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(TalentScopedAdmin):
    edit_capability = "reply"
    list_display = ["received_at", "from_number", "body", "talent", "needs_reply", "answered_at"]
    list_filter = ["needs_reply"]
    list_select_related = ["talent"]
    search_fields = ["=from_number", "=message_sid"]
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = [f.name for f in InboundMessage._meta.fields]
    actions: list = []

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
