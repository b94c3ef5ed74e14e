"""Console pages for messages both ways: the Inbox (conversations), sent texts, received texts.

The Inbox (issue 13) is thin: it reads with inbox.py, acts with services.py, shows with
templates/admin/messaging/conversation/.

- /admin/messaging/conversation/            folders, search, filters, keyset pages, bulk actions
- /admin/messaging/conversation/<id>/change/ the thread, the fan beside it, reply/note/assign/snooze/done
- /admin/messaging/conversation/<id>/presence/  POST heartbeat -> JSON (who else is here, new texts)
- /admin/messaging/conversation/<id>/transcript/ the thread as a text file

Viewing needs "view"; every write needs "reply" (owners, managers, agents). Another talent's
conversation answers 404 (TalentScopedAdmin.get_object).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

from accounts import current_talent, permissions
from accounts.admin_scoping import ReadOnlyAdmin, TalentScopedAdmin
from accounts.models import TeamMember
from messaging.audience.models import ContactList, Tag
from messaging.campaigns.models import Campaign
from messaging.conversations import assignment, hours, inbox, services
from messaging.conversations.models import Conversation, InboundMedia, InboxSettings, Poll, SavedReply
from messaging.conversations.polls import normalise, poll_tally
from messaging.conversations.themes import campaign_themes
from messaging.sms.models import InboundMessage, OutboundMessage
from messaging.sms.parts import sms_parts


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


Status = Conversation.Status
SNOOZE_CHOICES = [("1", "1 hour"), ("4", "4 hours"), ("24", "Tomorrow (24 hours)"), ("72", "3 days"), ("168", "A week")]


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Reply",
        max_length=services.MAX_REPLY_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "class": "fc-reply-body", "maxlength": services.MAX_REPLY_CHARS}),
        help_text="Sent by SMS from the talent's number. 160 GSM-7 characters make one SMS part.",
    )
    seen_reply_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    send_anyway = forms.BooleanField(required=False, label="Send mine anyway")
    # "Send later": read in the talent's time zone (the view validates inside timezone.override).
    send_at = forms.DateTimeField(
        required=False,
        label="Send later at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text="In the talent's time zone. Moved out of the fan's quiet hours if it falls in them.",
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Private note",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Never sent to the fan.",
    )


class SnoozeForm(forms.Form):
    hours = forms.ChoiceField(choices=[("", "Pick a time")] + SNOOZE_CHOICES, required=False, label="Snooze for")
    until = forms.DateTimeField(
        required=False,
        label="or until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def until_time(self) -> dt.datetime:
        # A typed time is read in the console's time zone (named beside the field); Django's
        # DateTimeField makes it aware in that zone already.
        if self.cleaned_data.get("until"):
            return self.cleaned_data["until"]
        if self.cleaned_data.get("hours"):
            return timezone.now() + dt.timedelta(hours=int(self.cleaned_data["hours"]))
        raise services.ConversationError("Pick how long to snooze it for.")


def _members(talent_id: int) -> list:
    """Who may be assigned: the talent's members whose role may reply."""
    roles = permissions.CAPABILITIES["reply"]
    ids = TeamMember.objects.filter(talent_id=talent_id, role__in=roles).values("user_id")
    return list(get_user_model().objects.filter(pk__in=ids, is_active=True).order_by("username"))


@admin.register(Conversation)
class ConversationAdmin(TalentScopedAdmin):
    edit_capability = "reply"
    list_display = ["fan", "status", "assignee", "last_message_at"]

    def has_add_permission(self, request) -> bool:
        return False  # a conversation opens when the fan writes

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # erasure removes them, with the fan

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/presence/", wrap(self.presence_view), name="messaging_conversation_presence"),
            path("<int:object_id>/transcript/", wrap(self.transcript_view), name="messaging_conversation_transcript"),
            path("bulk/", wrap(self.bulk_view), name="messaging_conversation_bulk"),
            path("poll/", wrap(self.poll_view), name="messaging_conversation_poll"),
            path("availability/", wrap(self.availability_view), name="messaging_conversation_availability"),
            path("settings/", wrap(self.settings_view), name="messaging_conversation_settings"),
            path("media/<int:media_id>/", wrap(self.media_view), name="messaging_conversation_media"),
            *super().get_urls(),
        ]

    # --- helpers --------------------------------------------------------------------------
    def _talent_ids(self, request) -> set[int] | None:
        return current_talent.talent_ids(request, "view")

    def _conversation(self, request, object_id) -> Conversation:
        obj = self.get_object(request, str(object_id))  # 404 for another talent's
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def _may_reply(self, request, obj: Conversation) -> bool:
        return permissions.can(request.user, "reply", obj.talent_id)

    # --- the inbox ------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        talent_ids = self._talent_ids(request)
        for talent_id in talent_ids or []:
            services.wake_snoozed(talent_id=talent_id)
        assignment.member_seen(talent_ids=talent_ids, user=request.user)
        folder = request.GET.get("folder") or "unassigned"
        filters = inbox.Filters.from_query(request.GET)
        campaign = None
        if folder == "campaign":
            campaign = self._campaign(talent_ids, filters.campaign_id)
            if campaign is None:
                folder = "open"
                filters.errors.append("No such campaign: showing all open conversations.")
        if folder not in inbox.FOLDER_TITLES and folder != "campaign":
            folder = "unassigned"
        qs = inbox.folder_queryset(
            folder, talent_ids=talent_ids, user=request.user, campaign_id=campaign.pk if campaign else None
        )
        qs = inbox.apply_filters(qs, filters, talent_ids=talent_ids, folder=folder, user=request.user)
        rows, next_cursor = inbox.page(qs, after=request.GET.get("after", ""))
        last_texts = dict(
            InboundMessage.objects.filter(pk__in=[r.last_inbound_id for r in rows if r.last_inbound_id]).values_list(
                "pk", "body"
            )
        )
        counts = inbox.folder_counts(talent_ids=talent_ids, user=request.user)
        unread_total = inbox.unread_for(talent_ids=talent_ids, user=request.user)
        query = request.GET.copy()
        query.pop("after", None)
        query["after"] = next_cursor
        scope = {"talent_id__in": talent_ids} if talent_ids is not None else {}
        members = _members(next(iter(talent_ids))) if talent_ids is not None and len(talent_ids) == 1 else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Inbox",
            "folder": folder,
            "folder_title": f"Replies to {campaign.name}" if campaign else inbox.FOLDER_TITLES.get(folder, ""),
            "campaign": campaign,
            "counts": counts,
            "unread_total": inbox.show_count(unread_total) if unread_total else "",
            "rows": [(r, last_texts.get(r.last_inbound_id, "")) for r in rows],
            "next_url": f"?{query.urlencode()}" if next_cursor else "",
            "filters": filters,
            "campaigns": Campaign.objects.filter(**scope).order_by("-created_at")[:50],
            "lists": ContactList.objects.filter(**scope).order_by("name")[:100],
            "tags": Tag.objects.filter(**scope).order_by("name")[:100],
            "members": members,
            "may_reply": permissions.can(request.user, "reply", current_talent.current_id(request)),
            "snooze_choices": SNOOZE_CHOICES,
            "now": timezone.now(),
            # Replies to a campaign: what they talk about, each theme a search of this folder.
            "themes": campaign_themes(campaign, limit=12) if campaign else [],
            "tally": poll_tally(campaign.poll) if campaign and hasattr(campaign, "poll") else [],
            **self._team_context(request),
        }
        return TemplateResponse(request, "admin/messaging/conversation/inbox.html", context)

    def _team_context(self, request) -> dict:
        """The inbox header: business hours now, round-robin and the member's own marks."""
        talent_id = current_talent.current_id(request)
        if talent_id is None:
            return {"one_talent": False}
        settings_row = assignment.inbox_settings_for(talent_id)
        talent = settings_row.talent
        return {
            "one_talent": True,
            "inbox_settings": settings_row,
            "hours_text": hours.hours_text(settings_row, talent=talent),
            "me": assignment.member_state(talent_id=talent_id, user=request.user),
            "idle_minutes": assignment.AVAILABLE_IDLE_MINUTES,
            "may_configure": permissions.can(request.user, "compose", talent_id),
            "poll_url": reverse("admin:messaging_conversation_poll"),
            "poll_since": timezone.now().isoformat(),
        }

    def poll_view(self, request):
        """GET: unread counts and new texts for browser notifications (the page polls every 30 s;
        it also keeps the member's availability mark alive)."""
        if not self.has_view_permission(request):
            return JsonResponse({"error": "You may not read this inbox."}, status=403)
        talent_ids = self._talent_ids(request)
        since = parse_datetime(request.GET.get("since", "") or "")
        if since is None or timezone.is_naive(since):
            return JsonResponse({"error": "Give since as an ISO 8601 time with its offset."}, status=400)
        assignment.member_seen(talent_ids=talent_ids, user=request.user)
        now = timezone.now()
        return JsonResponse(
            {
                "now": now.isoformat(),
                "unread": inbox.unread_for(talent_ids=talent_ids, user=request.user),
                "new": [
                    {**n, "url": reverse("admin:messaging_conversation_change", args=[n["id"]])}
                    for n in inbox.notifications_for(talent_ids=talent_ids, user=request.user, since=since)
                ],
            }
        )

    def availability_view(self, request):
        """POST: the member's own marks for the current talent: available for round-robin, digest."""
        if request.method != "POST":
            raise Http404
        back = reverse("admin:messaging_conversation_changelist")
        talent_id = current_talent.current_id(request)
        if talent_id is None:
            messages.error(request, "Pick one talent in the header first.")
            return HttpResponseRedirect(back)
        if "digest" in request.POST:
            enabled = request.POST.get("digest") == "1"
            assignment.member_set_digest(talent_id=talent_id, user=request.user, enabled=enabled)
            messages.success(
                request, "You will get a daily email of waiting conversations." if enabled else "No more digest emails."
            )
            return HttpResponseRedirect(back)
        available = request.POST.get("available") == "1"
        try:
            assignment.member_set_available(talent_id=talent_id, user=request.user, available=available)
        except PermissionError as exc:
            raise PermissionDenied(str(exc)) from exc
        messages.success(
            request,
            f"You are available for new conversations (until {assignment.AVAILABLE_IDLE_MINUTES} minutes without "
            "activity in the inbox)."
            if available
            else "You get no new conversations automatically.",
        )
        return HttpResponseRedirect(back)

    def settings_view(self, request):
        """The current talent's inbox settings (made on first use): to their edit page."""
        talent_id = current_talent.current_id(request)
        if talent_id is None or not permissions.can(request.user, "compose", talent_id):
            raise PermissionDenied
        row = assignment.inbox_settings_for(talent_id)
        return HttpResponseRedirect(reverse("admin:messaging_inboxsettings_change", args=[row.pk]))

    def media_view(self, request, media_id: int):
        """An inbound MMS file, to the talent's team only (another talent's answers 404)."""
        media = InboundMedia.objects.filter(pk=media_id, status=InboundMedia.Status.STORED).first()
        talent_ids = self._talent_ids(request)
        if media is None or (talent_ids is not None and media.talent_id not in talent_ids):
            raise Http404("No such file in your talents.")
        if not permissions.can(request.user, "view", media.talent_id):
            raise PermissionDenied
        try:
            handle = media.file.open("rb")
        except (FileNotFoundError, OSError) as exc:
            raise Http404("The file is gone (retention or erasure).") from exc
        response = FileResponse(handle, content_type=media.content_type, as_attachment=not media.is_image)
        # Served from our origin: never sniffed into HTML, never run as a page, never cached shared.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response["Cache-Control"] = "private, no-store"
        return response

    def _campaign(self, talent_ids, campaign_id) -> Campaign | None:
        if not campaign_id:
            return None
        qs = Campaign.objects.filter(pk=campaign_id)
        if talent_ids is not None:
            qs = qs.filter(talent_id__in=talent_ids)
        return qs.first()

    def bulk_view(self, request):
        if request.method != "POST":
            raise Http404
        talent_ids = current_talent.talent_ids(request, "reply")
        if talent_ids is not None and not talent_ids:
            raise PermissionDenied
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()][:200]
        chosen = Conversation.objects.filter(pk__in=ids)
        if talent_ids is not None:
            chosen = chosen.filter(talent_id__in=talent_ids)  # others' ids are ignored, never acted on
        action = request.POST.get("bulk_action", "")
        back = request.POST.get("back") or reverse("admin:messaging_conversation_changelist")
        if not back.startswith("/admin/"):
            back = reverse("admin:messaging_conversation_changelist")
        if not ids or not chosen:
            messages.warning(request, "Tick at least one conversation first.")
            return HttpResponseRedirect(back)
        done = 0
        try:
            for conversation in chosen:
                if action == "assign_me":
                    services.conversation_assign(conversation=conversation, user=request.user, assignee=request.user)
                elif action.startswith("assign_"):
                    who = get_user_model().objects.filter(pk=action.removeprefix("assign_")).first()
                    if who is None:
                        raise services.ConversationError("No such member.")
                    services.conversation_assign(conversation=conversation, user=request.user, assignee=who)
                elif action == "unassign":
                    services.conversation_assign(conversation=conversation, user=request.user, assignee=None)
                elif action.startswith("snooze_") and action.removeprefix("snooze_") in dict(SNOOZE_CHOICES):
                    until = timezone.now() + dt.timedelta(hours=int(action.removeprefix("snooze_")))
                    services.conversation_snooze(conversation=conversation, user=request.user, until=until)
                elif action == "done":
                    services.conversation_done(conversation=conversation, user=request.user)
                elif action == "spam":
                    services.conversation_block_spam(conversation=conversation, user=request.user)
                else:
                    raise services.ConversationError("Pick what to do with the selected conversations.")
                done += 1
        except services.ConversationError as exc:
            messages.error(request, f"{exc} ({done} changed before that.)" if done else str(exc))
            return HttpResponseRedirect(back)
        messages.success(request, f"Done for {done} conversation{'s' if done != 1 else ''}.")
        return HttpResponseRedirect(back)

    # --- one conversation -------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = self._conversation(request, object_id)
        may_reply = self._may_reply(request, conversation)
        reply_form = ReplyForm(initial={"seen_reply_id": conversation.last_reply_id})
        note_form, snooze_form = NoteForm(), SnoozeForm()
        conflict = action_error = ""
        status = 200
        if request.method == "POST":
            if not may_reply:
                raise PermissionDenied
            action = request.POST.get("action", "")
            try:
                if action in ("reply", "reply_done", "reply_later"):
                    reply_form = ReplyForm(request.POST)
                    with timezone.override(hours.talent_zone(conversation.talent)):
                        valid = reply_form.is_valid()
                    send_at = reply_form.cleaned_data.get("send_at") if valid else None
                    if valid and action == "reply_later" and send_at is None:
                        reply_form.add_error("send_at", "Pick when to send it.")
                        valid = False
                    if valid:
                        message = services.conversation_reply(
                            conversation=conversation,
                            user=request.user,
                            body=reply_form.cleaned_data["body"],
                            seen_reply_id=reply_form.cleaned_data["seen_reply_id"],
                            send_anyway=reply_form.cleaned_data["send_anyway"],
                            then=Status.DONE if action == "reply_done" else Status.PENDING,
                            send_at=send_at if action == "reply_later" else None,
                        )
                        if message.not_before:
                            local = timezone.localtime(message.not_before, hours.talent_zone(conversation.talent))
                            messages.success(request, f"Reply scheduled for {local:%b %d, %H:%M %Z}.")
                        else:
                            messages.success(request, "Reply sent: it leaves on the priority lane now.")
                        return self._back(request, conversation, action)
                elif action == "cancel_scheduled":
                    raw = request.POST.get("message_id", "")
                    if not raw.isdigit():
                        raise services.ConversationError("Which scheduled reply? None was given.")
                    services.conversation_cancel_scheduled(
                        conversation=conversation, user=request.user, message_id=int(raw)
                    )
                    messages.success(request, "Scheduled reply cancelled: it will not be sent.")
                    return self._back(request, conversation, action)
                elif action == "note":
                    note_form = NoteForm(request.POST)
                    if note_form.is_valid():
                        services.conversation_note(
                            conversation=conversation, user=request.user, body=note_form.cleaned_data["note"]
                        )
                        messages.success(request, "Private note added.")
                        return self._back(request, conversation, action)
                elif action == "assign":
                    raw = request.POST.get("assignee", "")
                    who = None
                    if raw == "me":
                        who = request.user
                    elif raw.isdigit():
                        who = get_user_model().objects.filter(pk=raw).first()
                        if who is None:
                            raise services.ConversationError("No such member.")
                    services.conversation_assign(conversation=conversation, user=request.user, assignee=who)
                    messages.success(request, f"Assigned to {who.get_username()}." if who else "Unassigned.")
                    return self._back(request, conversation, action)
                elif action == "snooze":
                    snooze_form = SnoozeForm(request.POST)
                    if snooze_form.is_valid():
                        until = snooze_form.until_time()
                        services.conversation_snooze(conversation=conversation, user=request.user, until=until)
                        messages.success(request, "Snoozed: it comes back on its own, or when the fan writes.")
                        return self._back(request, conversation, action)
                elif action == "done":
                    services.conversation_done(conversation=conversation, user=request.user)
                    messages.success(request, "Marked done.")
                    return self._back(request, conversation, action)
                elif action == "reopen":
                    services.conversation_reopen(conversation=conversation, user=request.user)
                    messages.success(request, "Reopened.")
                    return self._back(request, conversation, action)
                elif action == "spam":
                    services.conversation_block_spam(conversation=conversation, user=request.user)
                    messages.success(request, "Blocked as spam: this sender's texts no longer reopen it.")
                    return self._back(request, conversation, action)
                else:
                    action_error = "Unknown action."
                    status = 400
            except services.AnsweredMeanwhile as exc:
                conflict = str(exc)
                reply_form.add_error(None, conflict)
                status = 409
            except services.ConversationError as exc:
                form = {
                    "note": note_form,
                    "snooze": snooze_form,
                    "reply": reply_form,
                    "reply_done": reply_form,
                    "reply_later": reply_form,
                }.get(action)
                if form is not None and form.is_bound and form.is_valid():
                    form.add_error(None, str(exc))
                else:
                    action_error = str(exc)
                status = 400
            conversation.refresh_from_db()
            if status == 200:
                status = 400  # a form that did not validate
        else:
            services.conversation_seen(conversation=conversation, user=request.user)
            assignment.member_seen(talent_ids={conversation.talent_id}, user=request.user)
            saved = request.GET.get("saved", "")
            if saved.isdigit():
                reply = SavedReply.objects.filter(pk=saved, talent_id=conversation.talent_id).first()
                if reply is not None:
                    filled = services.fill_placeholders(reply.body, fan=conversation.fan)
                    reply_form = ReplyForm(initial={"body": filled.text, "seen_reply_id": conversation.last_reply_id})
                    if filled.missing:
                        messages.warning(
                            request,
                            "Fill in "
                            + ", ".join("{" + m + "}" for m in filled.missing)
                            + ": this fan's profile has no value.",
                        )
        if conflict:
            # The member sees the reply that left meanwhile; the form now carries the new id.
            data = request.POST.copy()
            data["seen_reply_id"] = str(conversation.last_reply_id or "")
            reply_form.data = data
        draft = reply_form["body"].value() or ""
        parts = sms_parts(draft)
        thread = services.thread(conversation)
        fan = conversation.fan
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Conversation with {inbox.fan_panel(fan)['name']}",
            "original": conversation,
            "conversation": conversation,
            "thread": thread,
            "talent_zone": str(hours.talent_zone(conversation.talent)),
            "panel": inbox.fan_panel(fan),
            "reply_form": reply_form,
            "note_form": note_form,
            "snooze_form": snooze_form,
            "conflict": conflict,
            "action_error": action_error,
            "parts": parts,
            "may_reply": may_reply,
            "refusal": services.answer_refusal(fan=fan),
            "saved_replies": SavedReply.objects.filter(talent_id=conversation.talent_id)[:50],
            "members": _members(conversation.talent_id),
            "others": services.presence_beat(conversation=conversation, user=request.user),
            "presence_seconds": services.PRESENCE_SECONDS,
            "unread_total": inbox.unread_for(talent_ids=self._talent_ids(request), user=request.user),
            "zone_name": timezone.get_current_timezone_name(),
        }
        return TemplateResponse(request, "admin/messaging/conversation/conversation.html", context, status=status)

    def _back(self, request, conversation: Conversation, action: str):
        if action in ("done", "reply_done", "spam", "snooze"):
            return HttpResponseRedirect(reverse("admin:messaging_conversation_changelist"))
        return HttpResponseRedirect(reverse("admin:messaging_conversation_change", args=[conversation.pk]))

    def presence_view(self, request, object_id: int):
        if request.method != "POST":
            return JsonResponse({"error": "POST a heartbeat."}, status=405)
        try:
            conversation = self._conversation(request, object_id)
        except Http404:
            return JsonResponse({"error": "No such conversation in your talents."}, status=404)
        if request.POST.get("leave") == "1":
            services.presence_leave(conversation=conversation, user=request.user)
            return JsonResponse({"others": []})
        others = services.presence_beat(
            conversation=conversation, user=request.user, typing=request.POST.get("typing") == "1"
        )
        assignment.member_seen(talent_ids={conversation.talent_id}, user=request.user)
        return JsonResponse(
            {
                "others": others,
                "last_inbound_id": conversation.last_inbound_id,
                "last_reply_id": conversation.last_reply_id,
                "status": conversation.status,
            }
        )

    def transcript_view(self, request, object_id: int):
        conversation = self._conversation(request, object_id)
        response = HttpResponse(services.transcript(conversation), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="conversation-{conversation.pk}.txt"'
        return response


@admin.register(SavedReply)
class SavedReplyAdmin(TalentScopedAdmin):
    """A talent's canned answers; managers and owners edit them, everyone who replies uses them."""

    edit_capability = "compose"
    list_display = ["title", "body", "talent"]
    fields = ["talent", "title", "body"]
    search_fields = ["title", "body"]


class PollForm(forms.ModelForm):
    answers = forms.CharField(
        label="Answers",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text='One answer a line: its number or word, "=", its label, then "|" and other words that count '
        'for it. Example: "1 = Paris | paris, france". A reply that is exactly one of these is a vote.',
    )

    class Meta:
        model = Poll
        fields = ["campaign", "question", "window_hours"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["answers"].initial = "\n".join(
                f"{o['key']} = {o.get('label', '')}" + (f" | {', '.join(o['keywords'])}" if o.get("keywords") else "")
                for o in self.instance.options
            )

    def clean_answers(self) -> list[dict]:
        options, seen = [], set()
        for number, line in enumerate(self.cleaned_data["answers"].splitlines(), start=1):
            if not line.strip():
                continue
            head, _, rest = line.partition("|")
            key, _, label = head.partition("=")
            key = normalise(key)
            if not key:
                raise forms.ValidationError(f"Line {number}: start with the answer's number or word.")
            keywords = [normalise(k) for k in rest.split(",") if normalise(k)]
            for word in [key, *keywords]:
                if word in seen:
                    raise forms.ValidationError(f"Line {number}: {word!r} already counts for another answer.")
                seen.add(word)
            options.append({"key": key, "label": label.strip() or key, "keywords": keywords})
        if len(options) < 2:
            raise forms.ValidationError("A poll needs at least two answers.")
        return options

    def save(self, commit=True):
        self.instance.options = self.cleaned_data["answers"]
        return super().save(commit)


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


DAY_CHOICES = [(str(n), name) for n, name in hours.DAY_NAMES.items()]


class InboxSettingsForm(forms.ModelForm):
    days = forms.MultipleChoiceField(
        label="Business days",
        choices=DAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="No day ticked: no business hours (never out of hours, no acknowledgement text).",
    )

    class Meta:
        model = InboxSettings
        fields = ["auto_assign", "member_cap", "opens_at", "closes_at", "away_enabled", "away_text"]
        widgets = {
            "opens_at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "closes_at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "away_text": forms.Textarea(attrs={"rows": 3, "maxlength": 320}),
        }
        help_texts = {
            "opens_at": "In the talent's time zone (the talent's settings).",
            "closes_at": "In the talent's time zone. Must be after the opening time.",
            "away_text": "Sent once per fan per out-of-hours stretch, only to real replies from active fans.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = sorted(str(d) for d in self.instance.days)
        self.fields["member_cap"].min_value = 1

    def clean(self):
        data = super().clean()
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and opens >= closes:
            self.add_error("closes_at", "Close after you open (the hours are one stretch within a day).")
        if data.get("member_cap") is not None and data["member_cap"] < 1:
            self.add_error("member_cap", "At least 1.")
        if data.get("away_enabled"):
            if not (data.get("away_text") or "").strip():
                self.add_error("away_text", "Write the acknowledgement text, or turn it off.")
            if not data.get("days"):
                self.add_error("days", "Tick the business days first: outside which hours should it go?")
        return data

    def save(self, commit=True):
        self.instance.business_days = ",".join(sorted(self.cleaned_data.get("days") or []))
        return super().save(commit)


@admin.register(InboxSettings)
class InboxSettingsAdmin(TalentScopedAdmin):
    """A talent's round-robin, cap, business hours and acknowledgement (managers and owners)."""

    edit_capability = "compose"
    form = InboxSettingsForm
    list_display = ["talent", "auto_assign", "member_cap", "away_enabled"]
    fieldsets = [
        ("Assignment", {"fields": ["auto_assign", "member_cap"]}),
        ("Business hours", {"fields": ["days", "opens_at", "closes_at"]}),
        ("Outside business hours", {"fields": ["away_enabled", "away_text"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return False  # one per talent, made on first use (the inbox's "Inbox settings" link)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
