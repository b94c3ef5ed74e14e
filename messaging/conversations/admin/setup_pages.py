"""The Inbox's setup pages: saved replies, polls (and their tally), the inbox settings."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.admin_scoping import TalentScopedAdmin
from messaging.conversations.admin.forms import InboxSettingsForm, PollForm
from messaging.conversations.models import InboxSettings, Poll, SavedReply
from messaging.conversations.polls import poll_tally


@admin.register(SavedReply)
class SavedReplyAdmin(TalentScopedAdmin):
    """A talent's canned answers; managers and owners edit them, everyone who replies uses them."""

    edit_capability = "compose"
    list_display = ["title", "body", "talent"]
    fields = ["talent", "title", "body"]
    search_fields = ["title", "body"]


@admin.register(Poll)
class PollAdmin(TalentScopedAdmin):
    """A campaign's question; replies within its window that match an answer are votes."""

    talent_lookup = "campaign__talent"
    edit_capability = "compose"
    form = PollForm
    list_display = ["question", "campaign", "window_hours", "votes"]
    list_select_related = ["campaign"]
    readonly_fields = ["tally"]

    def get_fields(self, request, obj=None):
        return ["campaign", "question", "answers", "window_hours", *(["tally"] if obj else [])]

    @admin.display(description="Votes")
    def votes(self, obj: Poll) -> int:
        return obj.votes.count()

    @admin.display(description="Tally (one vote per fan, the last one counts)")
    def tally(self, obj: Poll):
        rows = poll_tally(obj)
        return format_html(
            "<table>{}</table><p><a href='{}'>Download the tally (CSV)</a></p>",
            format_html_join(
                "",
                "<tr><th scope='row'>{} {}</th><td>{}</td><td>{}</td></tr>",
                (
                    (r["key"], r["label"], r["votes"], f"{r['share']:.0%}" if r["share"] is not None else "-")
                    for r in rows
                ),
            ),
            reverse("admin:messaging_poll_tally", args=[obj.pk]),
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/tally.csv", wrap(self.tally_csv), name="messaging_poll_tally"),
            *super().get_urls(),
        ]

    def tally_csv(self, request, object_id: int):
        poll = self.get_object(request, str(object_id))  # 404 for another talent's
        if not self.has_view_permission(request, poll):
            raise PermissionDenied
        lines = ["answer,label,votes"] + [
            ",".join(_csv_cell(v) for v in (r["key"], r["label"], str(r["votes"]))) for r in poll_tally(poll)
        ]
        response = HttpResponse("\n".join(lines) + "\n", content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="poll-{poll.pk}-tally.csv"'
        return response


def _csv_cell(value: str) -> str:
    """Quoted, and neutralised against spreadsheet formulas (a label typed as "=HYPERLINK(...)")."""
    value = ("'" + value) if value[:1] in ("=", "+", "-", "@") else value
    return '"' + value.replace('"', '""') + '"'


@admin.register(InboxSettings)
class InboxSettingsAdmin(TalentScopedAdmin):
    """A talent's round-robin, cap, business hours and acknowledgement (managers and owners)."""

    edit_capability = "compose"
    form = InboxSettingsForm
    list_display = ["talent", "auto_assign", "member_cap", "away_enabled"]
    fieldsets = [
        ("Assignment", {"fields": ["auto_assign", "member_cap"]}),
        ("Business hours", {"fields": ["days", "opens_at", "closes_at", "holiday_dates"]}),
        ("Outside business hours", {"fields": ["away_enabled", "away_text"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return False  # one per talent, made on first use (the inbox's "Inbox settings" link)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
