"""Console pages for messages both ways (the inbox lives here)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scoping import TalentScopedAdmin
from messaging.models import InboundMessage, OutboundMessage


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
