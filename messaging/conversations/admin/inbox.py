"""The Inbox: folders, search, filters, keyset pages, bulk actions, one conversation's thread and
reply box, presence, notifications polling, media, the transcript (see the package's docstring)."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import current_talent, permissions
from accounts.admin_scoping import TalentScopedAdmin
from accounts.models import TeamMember
from messaging.audience.models import ContactList, Tag
from messaging.campaigns.models import Campaign
from messaging.conversations import assignment, hours, inbox, services
from messaging.conversations.admin.forms import SNOOZE_CHOICES, NoteForm, ReplyForm, SnoozeForm
from messaging.conversations.models import Conversation, InboundMedia, SavedReply
from messaging.conversations.polls import poll_tally
from messaging.conversations.themes import themes_for_page
from messaging.sms.models import InboundMessage
from messaging.sms.parts import sms_parts

Status = Conversation.Status


def _members(talent_id: int) -> list:
    """Who may be assigned: the talent's members whose role may reply."""
    roles = permissions.CAPABILITIES["reply"]
    ids = TeamMember.objects.filter(talent_id=talent_id, role__in=roles).values("user_id")
    return list(get_user_model().objects.filter(pk__in=ids, is_active=True).order_by("username"))


# The thread's one-click actions (no form to fill): the service each calls, by name so a test's
# patch of the service is the one called, and what the team is told after.
ONE_CLICK = {
    "done": ("conversation_done", "Marked done."),
    "reopen": ("conversation_reopen", "Reopened."),
    "spam": ("conversation_block_spam", "Blocked as spam: this sender's texts no longer reopen it."),
}


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
            "themes": themes_for_page(campaign, limit=12) if campaign else None,
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
                elif action in ONE_CLICK:
                    service, told = ONE_CLICK[action]
                    getattr(services, service)(conversation=conversation, user=request.user)
                    messages.success(request, told)
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
