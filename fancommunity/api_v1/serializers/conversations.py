"""v1 shapes: Conversations, their thread, replies and assignment."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fancommunity.api_v1.serializers.messages import MessageSerializer, mask_links
from messaging.conversations.inbox import FOLDERS as INBOX_FOLDERS
from messaging.conversations.models import Conversation, Note
from messaging.conversations.services import MAX_REPLY_CHARS
from messaging.conversations.services import thread as conversation_thread


class ConversationSerializer(serializers.ModelSerializer):
    assignee_name = serializers.SerializerMethodField(help_text="The assignee's user name, or null.")
    unread = serializers.BooleanField(source="unread_team", read_only=True, help_text="No team member opened it since.")

    class Meta:
        model = Conversation
        fields = [
            "id", "fan", "status", "assignee", "assignee_name", "waiting_since", "snoozed_until", "campaign",
            "last_message_at", "last_inbound_at", "last_reply_id", "last_reply_at", "has_media", "blocked", "unread",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_assignee_name(self, conversation: Conversation) -> str | None:
        return conversation.assignee.get_username() if conversation.assignee_id else None


class ThreadItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["in", "out", "note", "event"],
        help_text="in: the fan's text; out: a text to the fan; note: a private note; event: assigned, done ...",
    )
    id = serializers.IntegerField(help_text="The id of the text, note or event (each kind counts on its own).")
    at = serializers.DateTimeField()
    body = serializers.CharField(help_text="The text (our own links replaced by [link] in texts to the fan).")
    who = serializers.CharField(help_text="'Fan', the team member, the campaign, or empty.")
    detail = serializers.CharField(help_text="A text's delivery status or keyword action, or empty.")


class ConversationDetailSerializer(ConversationSerializer):
    thread = serializers.SerializerMethodField(help_text="The latest 200 items, oldest first.")

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "thread"]
        read_only_fields = fields

    @extend_schema_field(ThreadItemSerializer(many=True))
    def get_thread(self, conversation: Conversation) -> list[dict]:
        items = []
        for item in conversation_thread(conversation):
            body = mask_links(item.body) if item.kind == "out" else item.body
            items.append(
                {
                    "kind": item.kind,
                    "id": item.obj.pk,
                    "at": item.at,
                    "body": body,
                    "who": item.who,
                    "detail": item.detail,
                }
            )
        return ThreadItemSerializer(items, many=True).data


class ConversationFilterSerializer(serializers.Serializer):
    folder = serializers.ChoiceField(
        choices=[key for key, _title in INBOX_FOLDERS],
        required=False,
        help_text="As the console's inbox folders: unassigned and mine are open conversations; mine is the "
        "token's creator's (or yours, signed in).",
    )
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    assignee = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="A member's user id.")
    unassigned = serializers.BooleanField(required=False, help_text="Only conversations nobody is assigned to.")
    fan = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    campaign = serializers.IntegerField(
        required=False, min_value=1, max_value=2**62, help_text="Replies to this campaign."
    )
    list = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="Fans in this list.")
    tag = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="Fans with this tag.")
    has_media = serializers.BooleanField(required=False, help_text="The fan sent a photo or other media.")
    unread = serializers.BooleanField(required=False, help_text="Not opened by the team since the fan wrote.")
    waiting_hours = serializers.IntegerField(
        required=False, min_value=1, max_value=24 * 365, help_text="The fan has waited at least this many hours."
    )
    q = serializers.CharField(
        required=False, max_length=200, help_text="Words the fan wrote, their name, or their number."
    )


class ReplySerializer(serializers.Serializer):
    body = serializers.CharField(
        max_length=MAX_REPLY_CHARS,
        help_text="The text. {first_name}, {last_name}, {city}, {talent} and {program} are filled from the "
        "fan's profile; one without a value is refused (409), never sent with a hole.",
    )
    then = serializers.ChoiceField(
        choices=[Conversation.Status.PENDING, Conversation.Status.DONE],
        default=Conversation.Status.PENDING,
        help_text="After the reply: wait on the fan (pending), or done.",
    )
    seen_reply_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**62,
        help_text="The conversation's last_reply_id when you read it (null: none yet). If someone replied since, "
        "the answer is 409 answered_meanwhile and nothing is sent. Omit it to send regardless.",
    )


class ReplyResultSerializer(serializers.Serializer):
    message = MessageSerializer()
    conversation = ConversationSerializer()


class AssignSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(
        allow_null=True, min_value=1, max_value=2**62, help_text="A team member's user id; null unassigns."
    )


class NoteSerializer(serializers.ModelSerializer):
    author_name = serializers.SerializerMethodField(help_text="The author's user name, or null (a removed user).")

    class Meta:
        model = Note
        fields = ["id", "conversation", "author", "author_name", "body", "created_at"]
        read_only_fields = fields

    def get_author_name(self, note: Note) -> str | None:
        return note.author.get_username() if note.author_id else None


class NoteInputSerializer(serializers.Serializer):
    # The service's own limit (4,000 characters, blank refused) answers too; this one puts it in the schema.
    body = serializers.CharField(max_length=4000, help_text="A private note for the team: never sent to the fan.")


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(
        help_text="When it comes back as open (at most 90 days ahead), unless the fan writes first."
    )
