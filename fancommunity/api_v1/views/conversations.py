"""/api/v1/conversations/: the shared inbox for scripts (a ticketing system, a helpdesk).

Reads use the inbox's own selectors (folders and filters of messaging/conversations/inbox.py) and
writes its services (messaging/conversations/services.py), so a reply through the API goes out
on the priority lane with every rule the console's "Send reply" has: STOP wins, the placeholder
check, the "someone answered meanwhile" check. A token acts as its creator: their name is on the
reply, "mine" is their folder.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import TeamMember
from fancommunity.api_v1 import core
from fancommunity.api_v1 import serializers as s
from fancommunity.api_v1.core import ApiError
from fancommunity.api_v1.views.base import ERR_409, ERR_422, V1ViewSet
from messaging.conversations import inbox
from messaging.conversations import services as conversations
from messaging.conversations.models import Conversation, Note


class ConversationCursorPagination(core.IdCursorPagination):
    # The inbox's order, on its folder indexes (talent, status|assignee, -last_message_at, -id).
    ordering = ("-last_message_at", "-id")
    page_size = 50
    max_page_size = 200


class NoteCursorPagination(core.IdCursorPagination):
    # Newest first, on the note_thread index (conversation, created_at).
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200


@extend_schema_view(
    list=extend_schema(parameters=[s.ConversationFilterSerializer]),
    retrieve=extend_schema(responses=s.ConversationDetailSerializer),
)
class ConversationViewSet(core.TalentRows, mixins.ListModelMixin, mixins.RetrieveModelMixin, V1ViewSet):
    """The talent's conversations with fans, in the inbox's folders and with its filters."""

    rows_of = Conversation
    serializer_class = s.ConversationSerializer
    pagination_class = ConversationCursorPagination
    scopes = {
        "list": "conversations:read",
        "retrieve": "conversations:read",
        "reply": "conversations:write",
        "assign": "conversations:write",
        "done": "conversations:write",
        "notes": "conversations:read",
        "add_note": "conversations:write",
        "snooze": "conversations:write",
        "unsnooze": "conversations:write",
    }

    def rows(self, queryset):
        return queryset.select_related("assignee")

    def get_serializer_class(self):
        return s.ConversationDetailSerializer if self.action == "retrieve" else s.ConversationSerializer

    def list(self, request, *args, **kwargs):
        f = self.filters(s.ConversationFilterSerializer)
        talent_ids = {self.talent.pk}
        folder = f.get("folder", "")
        qs = self.get_queryset()
        if folder:
            qs = inbox.folder_queryset(folder, talent_ids=talent_ids, user=request.user).select_related("assignee")
        if "status" in f:
            qs = qs.filter(status=f["status"])
        if "assignee" in f:
            qs = qs.filter(assignee_id=f["assignee"])
        if f.get("unassigned"):
            qs = qs.filter(assignee__isnull=True)
        if "fan" in f:
            qs = qs.filter(fan_id=f["fan"])
        # The console's own filters (campaign, list, tag, media, unread, waiting, search).
        chosen = inbox.Filters(
            q=f.get("q", "").strip(),
            has_media=f.get("has_media", False),
            campaign_id=f.get("campaign"),
            list_id=f.get("list"),
            tag_id=f.get("tag"),
            waiting_hours=f.get("waiting_hours"),
            unread=f.get("unread", False),
        )
        qs = inbox.apply_filters(qs, chosen, talent_ids=talent_ids, folder=folder, user=request.user)
        return self.paged(qs, s.ConversationSerializer)

    def _detail(self, conversation: Conversation) -> dict:
        return s.ConversationSerializer(self.get_queryset().get(pk=conversation.pk)).data

    @extend_schema(
        request=s.ReplySerializer,
        parameters=[core.IDEMPOTENCY_HEADER],
        responses={201: s.ReplyResultSerializer, 409: ERR_409, 422: ERR_422},
        description='Send a reply by SMS on the priority lane, as the console\'s "Send reply" does. 409 with '
        "code answered_meanwhile (someone replied after seen_reply_id) or cannot_reply (the fan opted out, was "
        "erased, has not finished joining, or a placeholder has no value): nothing was sent. Send an "
        "Idempotency-Key: a retry after a lost answer must not text the fan twice.",
    )
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        conversation = self.get_object()
        return core.idempotent(request, lambda: self._reply(conversation))

    def _reply(self, conversation: Conversation) -> Response:
        v = self.posted(s.ReplySerializer)
        # Placeholders are filled as the console fills a saved reply; one without a value stays and
        # the service refuses it, so no fan gets "Hi {first_name}" or "Hi ,".
        text = conversations.fill_placeholders(v["body"], fan=conversation.fan).text
        seen = v.get("seen_reply_id", conversation.last_reply_id)
        try:
            message = conversations.conversation_reply(
                conversation=conversation,
                user=self.request.user,
                body=text,
                seen_reply_id=seen,
                send_anyway="seen_reply_id" not in v,
                then=v["then"],
            )
        except conversations.AnsweredMeanwhile as exc:
            raise ApiError(409, "answered_meanwhile", str(exc))
        except conversations.ConversationError as exc:
            raise ApiError(409, "cannot_reply", str(exc))
        body = {"message": s.MessageSerializer(message).data, "conversation": self._detail(conversation)}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.AssignSerializer,
        responses={200: s.ConversationSerializer},
        description="Assign to a team member whose role may answer fans (null unassigns). Sends the "
        "conversation.assigned webhook event.",
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self.get_object()
        chosen = self.posted(s.AssignSerializer)["assignee"]
        assignee = None
        if chosen is not None:
            # Only this talent's members are found at all: any other user id reads as unknown, so a
            # script cannot learn other talents' user names from the refusal.
            members = TeamMember.objects.filter(talent=self.talent).values("user_id")
            assignee = get_user_model().objects.filter(pk=chosen, pk__in=members, is_active=True).first()
            if assignee is None:
                raise ApiError(400, "invalid", "assignee: no such member of this talent's team.")
        try:
            conversations.conversation_assign(conversation=conversation, user=request.user, assignee=assignee)
        except conversations.ConversationError as exc:
            raise ApiError(400, "invalid", f"assignee: {exc}")
        return Response(self._detail(conversation))

    @extend_schema(request=None, responses={200: s.ConversationSerializer})
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        conversation = self.get_object()
        conversations.conversation_done(conversation=conversation, user=request.user)
        return Response(self._detail(conversation))

    # --- notes and snooze: the console's services, the console's rules ----------------------------
    @extend_schema(
        responses=s.NoteSerializer(many=True),
        description="The conversation's private notes, newest first (the thread shows them too).",
    )
    @action(detail=True, methods=["get"])
    def notes(self, request, pk=None):
        conversation = self.get_object()
        paginator = NoteCursorPagination()
        notes = Note.objects.filter(conversation=conversation).select_related("author")
        page = paginator.paginate_queryset(notes, request, view=self)
        return paginator.get_paginated_response(s.NoteSerializer(page, many=True).data)

    @extend_schema(
        request=s.NoteInputSerializer,
        parameters=[core.IDEMPOTENCY_HEADER],
        responses={201: s.NoteSerializer, 422: ERR_422},
        description='Add a private note, as the console\'s "Add note": never sent to the fan. The author is '
        "the token's creator.",
    )
    @notes.mapping.post
    def add_note(self, request, pk=None):
        conversation = self.get_object()
        return core.idempotent(request, lambda: self._add_note(conversation))

    def _add_note(self, conversation: Conversation) -> Response:
        body = self.posted(s.NoteInputSerializer)["body"]
        try:
            note = conversations.conversation_note(conversation=conversation, user=self.request.user, body=body)
        except conversations.ConversationError as exc:
            raise ApiError(400, "invalid", f"body: {exc}")
        note = Note.objects.select_related("author").get(pk=note.pk)
        return Response(s.NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.SnoozeSerializer,
        responses={200: s.ConversationSerializer},
        description="Snooze until a time (in the future, at most 90 days ahead): it leaves the open folders "
        "and comes back as open then, or as soon as the fan writes.",
    )
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        conversation = self.get_object()
        until = self.posted(s.SnoozeSerializer)["until"]
        try:
            conversations.conversation_snooze(conversation=conversation, user=request.user, until=until)
        except conversations.ConversationError as exc:
            raise ApiError(400, "invalid", f"until: {exc}")
        return Response(self._detail(conversation))

    @extend_schema(
        request=None,
        responses={200: s.ConversationSerializer, 409: ERR_409},
        description='Bring a snoozed conversation back as open now (the console\'s "Reopen"). 409 '
        "invalid_transition if it is not snoozed: use reply or assign on an open one.",
    )
    @action(detail=True, methods=["post"])
    def unsnooze(self, request, pk=None):
        conversation = self.get_object()
        # Only a snoozed one: "unsnooze" must not reopen a conversation someone marked done. A fan's
        # text may wake it meanwhile; the service then finds it open and changes nothing.
        if conversation.status != Conversation.Status.SNOOZED:
            raise ApiError(
                409, "invalid_transition", f"It is {conversation.get_status_display().lower()}, not snoozed."
            )
        conversations.conversation_reopen(conversation=conversation, user=request.user)
        return Response(self._detail(conversation))
