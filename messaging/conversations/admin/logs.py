"""The sent and received texts: read-only logs to look things up in (answering is in the Inbox)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin_scoping import ReadOnlyAdmin, TalentScopedAdmin
from messaging.conversations.models import Conversation
from messaging.sms.models import InboundMessage, OutboundMessage


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
class InboundMessageAdmin(ReadOnlyAdmin):
    """Every text received, as it came (keywords, join texts, strangers too): a log to look things up
    in. Answering happens in the conversation (the Inbox), so this page has no reply box."""

    edit_capability = "reply"
    list_display = ["received_at", "from_number", "fan", "short_body", "action", "conversation_link", "talent"]
    list_filter = ["action"]
    list_select_related = ["talent", "fan"]
    search_fields = ["=from_number", "=message_sid"]
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = ["received_at", "talent", "fan", "from_number", "body", "action", "conversation_link"]
    fields = readonly_fields
    actions: list = []

    @admin.display(description="Text")
    def short_body(self, obj: InboundMessage) -> str:
        return obj.body[:80]

    @admin.display(description="Conversation")
    def conversation_link(self, obj: InboundMessage):
        if obj.fan_id is None:
            return "-"
        conversation = Conversation.objects.filter(fan_id=obj.fan_id).only("pk").first()
        if conversation is None:
            return "None (no real reply yet)"
        return format_html(
            '<a href="{}">Open the conversation</a>',
            reverse("admin:messaging_conversation_change", args=[conversation.pk]),
        )
