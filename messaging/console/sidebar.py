"""The console's menu, by task rather than by model (settings.UNFOLD["SIDEBAR"]["navigation"]).

Built per request: an entry shows only when its page would let the user in (the page's own
has_view_or_change_permission, so the menu can never promise a page that answers 403). The
titles are the team's words; the URLs are the stock /admin/<app>/<model>/ ones.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.templatetags.static import static
from django.urls import reverse

from accounts import current_talent
from messaging.models import Conversation

# (group title, [(title, icon, model label or None for the home page)])
MENU: list[tuple[str | None, list[tuple[str, str, str | None]]]] = [
    (
        None,
        [
            ("Home", "home", None),
            ("Inbox", "inbox", "messaging.Conversation"),
            ("Campaigns", "campaign", "messaging.Campaign"),
            ("Polls", "ballot", "messaging.Poll"),
            ("Sent texts", "outbox", "messaging.OutboundMessage"),
            ("Received texts", "move_to_inbox", "messaging.InboundMessage"),
        ],
    ),
    (
        "Audience",
        [
            ("Fans", "groups", "accounts.Fan"),
            ("Lists", "list", "messaging.ContactList"),
            ("Tags", "sell", "messaging.Tag"),
            ("Segments", "filter_alt", "messaging.Segment"),
            ("Imports", "upload_file", "messaging.ImportBatch"),
            ("Exports", "download", "messaging.ExportAudit"),
        ],
    ),
    (
        "Automations",  # issue 14
        [
            ("Keywords", "key_visualizer", "messaging.Keyword"),
            ("Drops", "rocket_launch", "messaging.Drop"),
            ("Welcome series", "waving_hand", "messaging.WelcomeSeries"),
            ("Date messages", "cake", "messaging.DateMessage"),
            ("Next 24 hours", "schedule_send", "messaging.UpcomingAutomation"),
        ],
    ),
    (
        "Team and settings",
        [
            ("Team", "badge", "accounts.TeamMember"),
            ("Settings", "tune", "accounts.Talent"),
            ("Senders", "sim_card", "messaging.Sender"),  # issue 17
            ("Saved replies", "quickreply", "messaging.SavedReply"),
            ("API tokens", "key", "accounts.ApiToken"),  # issue 16
            ("Webhooks", "webhook", "accounts.WebhookEndpoint"),
            ("Webhook deliveries", "send", "accounts.WebhookDelivery"),
        ],
    ),
    (
        "Compliance",
        [
            ("Consent records", "verified_user", "consent.ConsentRecord"),
            ("Terms", "gavel", "consent.TermsDocument"),
            ("Audit log", "history", "accounts.AuditEvent"),
            ("Export log", "fact_check", "messaging.ExportAudit"),
        ],
    ),
    (
        "Operator",
        [
            ("Users", "person", "auth.User"),
            ("Groups", "group_work", "auth.Group"),
            ("Scheduled tasks", "schedule", "django_q.Schedule"),
            ("Queued tasks", "pending", "django_q.OrmQ"),
            ("Failed tasks", "error", "django_q.Failure"),
        ],
    ),
]

# The labels the console's pages use in their titles, for the same models (see TalentScopedAdmin).
PAGE_TITLES = {label: title for _, items in MENU for title, _, label in items if label}
PAGE_TITLES["messaging.ExportAudit"] = "Export log"
GROUP_OF: dict[str, str] = {}
for _group, _items in MENU:
    for _title, _, _label in _items:
        if _group and _label:
            GROUP_OF.setdefault(_label, _group)


def page_title(opts) -> str:
    """The team's word for a model's pages ("Inbox", not "Inbound messages")."""
    return PAGE_TITLES.get(opts.label, str(opts.verbose_name_plural))


def _entry(request, title: str, icon: str, label: str | None) -> dict | None:
    if label is None:
        return {"title": title, "icon": icon, "link": reverse("admin:index"), "allowed": True}
    try:
        model = apps.get_model(label)
    except LookupError:
        return None
    model_admin = admin.site._registry.get(model)
    if model_admin is None:
        return None
    allowed = model_admin.has_view_or_change_permission(request)
    meta = model._meta
    entry = {
        "title": title,
        "icon": icon,
        "link": reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"),
        "allowed": allowed,
    }
    if label == "messaging.Conversation" and allowed:
        waiting = inbox_waiting(request)
        if waiting:
            entry["badge"] = waiting  # a plain string: unfold shows it as is
    return entry


def navigation(request) -> list[dict]:
    groups = []
    for title, items in MENU:
        entries = [e for e in (_entry(request, *item) for item in items) if e is not None and e["allowed"]]
        if entries:  # a group with nothing the user may open is left out, heading and all
            groups.append({"title": title, "separator": title is not None, "collapsible": False, "items": entries})
    return groups


def inbox_waiting(request) -> str:
    """Open conversations waiting for an answer in the current talent, for the menu's badge ("" when
    none); counted up to 1,000 only (a partial index range), so a burst never makes every page slow."""
    ids = current_talent.talent_ids(request, "view")
    waiting = Conversation.objects.filter(status="open", waiting_since__isnull=False)
    if ids is not None:
        waiting = waiting.filter(talent_id__in=ids)
    count = waiting.order_by()[:1000].count()
    return "" if not count else ("999+" if count > 999 else str(count))


def favicon_url(request) -> str:
    """settings.UNFOLD["SITE_FAVICONS"]: through the static storage, so production gets the hashed name."""
    return static("console/favicon.svg")
