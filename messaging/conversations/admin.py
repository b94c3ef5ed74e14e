"""Console pages for messages both ways (the inbox lives here)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import Fan
from messaging.conversations.priority import priority_message_queue
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


class InboundReplyForm(forms.ModelForm):
    """The inbox: answer the fan one-to-one (sent on the priority lane) or archive without answer."""

    reply = forms.CharField(
        required=False,
        max_length=1600,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Sent to the fan by SMS from the talent's number. Keep it short: 160 characters is one SMS part.",
    )
    archive = forms.BooleanField(
        required=False,
        label="Archive without answering",
        help_text="Tick this and leave the reply empty to close the text without sending anything.",
    )

    class Meta:
        model = InboundMessage
        fields: list = []

    def clean(self):
        data = super().clean()
        if data.get("reply"):
            fan = self.instance.fan
            if fan is None or fan.status != Fan.Status.ACTIVE or not fan.phone:
                raise forms.ValidationError(
                    "Only an active fan can be answered (this sender opted out or never joined)."
                )
        return data


@admin.register(InboundMessage)
class InboundMessageAdmin(TalentScopedAdmin):
    edit_capability = "reply"
    form = InboundReplyForm
    list_display = ["received_at", "from_number", "fan", "short_body", "action", "needs_reply", "answered_at", "talent"]
    list_filter = ["needs_reply", "action"]
    list_select_related = ["talent", "fan"]
    search_fields = ["=from_number", "=message_sid"]
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = [
        "received_at",
        "talent",
        "fan",
        "from_number",
        "body",
        "action",
        "needs_reply",
        "answered_at",
        "conversation",
    ]
    fields = [*readonly_fields, "reply", "archive"]
    actions = ["archive_selected"]

    @admin.display(description="Text")
    def short_body(self, obj: InboundMessage) -> str:
        return obj.body[:80]

    @admin.display(description="Conversation (latest 20)")
    def conversation(self, obj: InboundMessage):
        if obj.fan_id is None:
            return "-"
        inbound = [(m.received_at, "Fan", m.body) for m in obj.fan.inbound_messages.order_by("-received_at")[:20]]
        outbound = [
            (m.created_at, m.get_kind_display(), m.body) for m in obj.fan.outbound_messages.order_by("-created_at")[:20]
        ]
        rows = sorted(inbound + outbound, key=lambda r: r[0])[-20:]
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((f"{at:%Y-%m-%d %H:%M}", who, body) for at, who, body in rows),
            ),
        )

    def save_model(self, request, obj, form, change):
        reply = form.cleaned_data.get("reply", "").strip()
        if reply:
            with transaction.atomic():
                priority_message_queue(
                    talent=obj.talent,
                    fan=obj.fan,
                    to=str(obj.fan.phone),
                    body=reply,
                    kind=OutboundMessage.Kind.REPLY,
                    sent_by=request.user,
                )
                _answer(obj)
        elif form.cleaned_data.get("archive"):
            _answer(obj)

    # permissions=["change"]: archiving is answering ("reply"), which an analyst may not do.
    @admin.action(description="Archive selected (no answer needed)", permissions=["change"])
    def archive_selected(self, request, queryset):
        updated = queryset.filter(needs_reply=True).update(needs_reply=False, answered_at=timezone.now())
        self.message_user(request, f"Archived {updated} messages.")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _answer(message: InboundMessage) -> None:
    """Answering a fan answers everything they wrote up to now."""
    now = timezone.now()
    if message.fan_id is not None:
        InboundMessage.objects.filter(fan_id=message.fan_id, needs_reply=True, received_at__lte=now).update(
            needs_reply=False, answered_at=now
        )
    InboundMessage.objects.filter(pk=message.pk, answered_at__isnull=True).update(needs_reply=False, answered_at=now)
