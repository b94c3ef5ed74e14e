"""Every place that holds a fan's data, and what erasure does to it (and why).

tests/messaging/privacy/test_inventory.py walks every model: a relation to Fan, a phone-bearing
column, a JSON payload or a file field that this list does not name fails the test, and every
"wipe" and "delete" below is checked against what `fan_erase` really does. Adding a table that
holds a fan's data therefore means deciding here what erasure does with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tie(StrEnum):
    FAN = "fan"  # a foreign key to the fan row
    PHONE = "phone"  # only the phone number ties it to the fan
    NONE = "none"  # holds no fan's data (named so the walk knows it was looked at)


class OnErase(StrEnum):
    WIPE = "wipe"  # the value is emptied, the row stays (its counts and statuses are not personal)
    DELETE = "delete"  # the row goes
    HASH = "hash"  # kept only as a keyed hash (so an import can refuse the number)
    KEEP = "keep"  # kept as it is: not personal, or anonymous once the fields above are wiped
    EXPIRE = "expire"  # not reachable by fan; gone when it expires


@dataclass(frozen=True)
class Place:
    model: str  # "app_label.ModelName" or a non-model store such as "django.session"
    field: str  # the column, or "*" for the whole row
    tie: Tie
    on_erase: OnErase
    why: str
    via: str = ""  # the field that ties the row to the fan (or to the phone), when tie is FAN/PHONE


INVENTORY: list[Place] = [
    # The fan row itself.
    Place("accounts.Fan", "phone", Tie.FAN, OnErase.HASH, "the unique (talent, phone) survives as phone_hash", "id"),
    Place(
        "accounts.Fan",
        "phone_hash",
        Tie.FAN,
        OnErase.KEEP,
        "a keyed HMAC: proves 'this number asked to be forgotten'",
        "id",
    ),
    # Messages both ways: bodies and numbers are personal; statuses and counts are not.
    Place(
        "messaging.InboundMessage",
        "fan",
        Tie.FAN,
        OnErase.KEEP,
        "the row stays for reply counts; its fields below are wiped",
        "fan",
    ),
    Place("messaging.InboundMessage", "body", Tie.FAN, OnErase.WIPE, "what the fan wrote", "fan"),
    Place("messaging.InboundMessage", "from_number", Tie.FAN, OnErase.WIPE, "the fan's number", "fan"),
    Place("messaging.InboundMessage", "to_number", Tie.FAN, OnErase.KEEP, "the talent's own number", "fan"),
    Place(
        "messaging.InboundMessage",
        "payload",
        Tie.FAN,
        OnErase.WIPE,
        "Twilio's raw form: number, body, city, zip",
        "fan",
    ),
    Place(
        "messaging.InboundMessage",
        "from_number",
        Tie.PHONE,
        OnErase.WIPE,
        "texts from before the fan row existed",
        "from_number",
    ),
    Place(
        "messaging.OutboundMessage",
        "fan",
        Tie.FAN,
        OnErase.KEEP,
        "the row stays for campaign reports; fields below wiped",
        "fan",
    ),
    Place("messaging.OutboundMessage", "body", Tie.FAN, OnErase.WIPE, "rendered with the fan's name and links", "fan"),
    Place("messaging.OutboundMessage", "to_number", Tie.FAN, OnErase.WIPE, "the fan's number", "fan"),
    Place("messaging.OutboundMessage", "media_url", Tie.FAN, OnErase.WIPE, "could name a personal file", "fan"),
    Place(
        "messaging.OutboundMessage",
        "to_number",
        Tie.PHONE,
        OnErase.WIPE,
        "signup codes sent before the fan row existed",
        "to_number",
    ),
    # Consent evidence: purpose, versions and time stay (the proof); device details are personal.
    Place(
        "consent.ConsentRecord",
        "fan",
        Tie.FAN,
        OnErase.KEEP,
        "evidence of what was agreed, kept for its subject",
        "fan",
    ),
    Place("consent.ConsentRecord", "ip_address", Tie.FAN, OnErase.WIPE, "the device's address", "fan"),
    Place("consent.ConsentRecord", "user_agent", Tie.FAN, OnErase.WIPE, "the device's browser", "fan"),
    # Audience membership: personal (who is in which list), deleted.
    Place(
        "messaging.ContactListMember", "*", Tie.FAN, OnErase.DELETE, "membership says who the fan is to the team", "fan"
    ),
    Place("messaging.FanTag", "*", Tie.FAN, OnErase.DELETE, "tags describe the fan", "fan"),
    # Clicks: the row stays for unique-click counts; with the fan erased it names nobody.
    Place("messaging.Click", "fan", Tie.FAN, OnErase.KEEP, "points at the erased (empty) fan row: counts only", "fan"),
    # A number the provider called dead is tied by phone only: it goes with the fan.
    Place("messaging.UndeliverableNumber", "phone", Tie.PHONE, OnErase.DELETE, "a phone number", "phone"),
    # Conversations (issue 13): the inbox's state per fan, the team's private notes about them and
    # who handled them when (assignments, status changes). All about the fan: deleted.
    Place("messaging.Conversation", "*", Tie.FAN, OnErase.DELETE, "the fan's inbox thread state and assignee", "fan"),
    Place("messaging.Note", "*", Tie.FAN, OnErase.DELETE, "the team's private notes about the fan", "fan"),
    Place(
        "messaging.ConversationEvent", "*", Tie.FAN, OnErase.DELETE, "assignments and status changes of the fan", "fan"
    ),
    Place("messaging.Presence", "*", Tie.NONE, OnErase.DELETE, "who has a conversation open; goes with it"),
    Place("messaging.Episode", "*", Tie.NONE, OnErase.KEEP, "timings and who answered: the reply figures"),
    Place("messaging.SavedReply", "body", Tie.NONE, OnErase.KEEP, "the team's canned answers"),
    # A poll's vote says what the fan answered: it goes with them (the tally loses one vote).
    Place("messaging.Vote", "*", Tie.FAN, OnErase.DELETE, "the fan's answer to a poll", "fan"),
    Place("messaging.Poll", "options", Tie.NONE, OnErase.KEEP, "the question's answers, not people"),
    # Issue 13 (the rest): inbox settings and members' marks hold no fan data; an MMS's files do.
    Place("messaging.InboxSettings", "*", Tie.NONE, OnErase.KEEP, "a talent's hours and assignment rules"),
    Place("messaging.CampaignThemes", "words", Tie.NONE, OnErase.KEEP, "word counts, sample ids (texts read live)"),
    # Issue 17: the talent's senders are the talent's numbers, never a fan's; a fan's carrier is theirs.
    Place("messaging.Sender", "phone_number", Tie.NONE, OnErase.KEEP, "the talent's own sending number"),
    Place("messaging.Sender", "rate_overrides", Tie.NONE, OnErase.KEEP, "SMS parts a second per carrier"),
    Place("messaging.FanCarrier", "*", Tie.FAN, OnErase.DELETE, "the fan's carrier and line type (Lookup)", "fan"),
    Place("messaging.MemberInbox", "*", Tie.NONE, OnErase.KEEP, "a team member's availability and digest choice"),
    Place("messaging.InboundMedia", "*", Tie.FAN, OnErase.DELETE, "what the fan sent by MMS: row and file", "fan"),
    Place("messaging.InboundMedia", "file", Tie.FAN, OnErase.DELETE, "the stored file, deleted from disk", "fan"),
    # Not reachable by fan: bounded by their own lifetimes.
    Place(
        "messaging.ImportBatch",
        "file",
        Tie.NONE,
        OnErase.EXPIRE,
        "deleted when its batch finishes (rows are fans then)",
    ),
    Place(
        "messaging.ImportBatch", "error_report", Tie.NONE, OnErase.EXPIRE, "may quote a bad row; kept with the batch"
    ),
    Place("django.session", "join_pending", Tie.NONE, OnErase.EXPIRE, "only a PendingSignup id and secret (issue 15)"),
    Place(
        "accounts.PendingSignup",
        "phone",
        Tie.NONE,
        OnErase.EXPIRE,
        "a signup waiting for its code: deleted 10 minutes on (a task every 10 minutes)",
    ),
    Place("accounts.PendingSignup", "data", Tie.NONE, OnErase.EXPIRE, "the typed profile, gone with the row"),
    Place("accounts.Talent", "signup_fields", Tie.NONE, OnErase.KEEP, "which fields the form asks, not answers"),
    # Looked at, holds no fan's data.
    Place("accounts.Talent", "sender_number", Tie.NONE, OnErase.KEEP, "the talent's own number"),
    Place("accounts.AuditEvent", "details", Tie.NONE, OnErase.KEEP, "ids and counts only (fan.erased holds none)"),
    Place("messaging.Segment", "definition", Tie.NONE, OnErase.KEEP, "rules, not people"),
    Place("messaging.ExportAudit", "columns", Tie.NONE, OnErase.KEEP, "column names"),
    Place("messaging.Campaign", "media_file", Tie.NONE, OnErase.KEEP, "the team's image for a campaign"),
    Place("messaging.DailyFigures", "top_regions", Tie.NONE, OnErase.KEEP, "counts per country and region, no fan"),
    # Issue 16 (API v1, outgoing webhooks). Tied by a plain fan_id column, not a foreign key (an
    # event must outlive nothing and block nothing): fan_erase handles them by that id, and
    # tests/webhooks_out/test_webhooks.py checks it.
    Place("accounts.ApiToken", "scopes", Tie.NONE, OnErase.KEEP, "scope names"),
    Place("accounts.WebhookEndpoint", "events", Tie.NONE, OnErase.KEEP, "event type names"),
    Place(
        "accounts.WebhookEvent", "data", Tie.NONE, OnErase.KEEP, "rewritten to the fan's id alone (events_scrub_fan)"
    ),
    Place(
        "accounts.IdempotencyKey",
        "response_body",
        Tie.NONE,
        OnErase.DELETE,
        "a created fan's answer: deleted by fan_id",
    ),
    # Issue 14 (automations: keywords and drops). What a fan texted and joined is about the fan.
    Place("messaging.FanKeyword", "*", Tie.FAN, OnErase.DELETE, "the keyword the fan joined with", "fan"),
    Place("messaging.KeywordEntrant", "*", Tie.FAN, OnErase.DELETE, "the fan used a keyword (capacity)", "fan"),
    Place("messaging.KeywordReply", "*", Tie.FAN, OnErase.DELETE, "days the fan got a keyword's reply", "fan"),
    Place("messaging.DropEntry", "*", Tie.FAN, OnErase.DELETE, "the fan joined a drop", "fan"),
    # A code handed out is used up: the row goes with the fan (freeing it would give it to another).
    Place("messaging.DropCode", "*", Tie.FAN, OnErase.DELETE, "which code the fan got (the box office's file)", "fan"),
    # Automations (issue 14): who is in which welcome series or date message, and which texts of
    # them the fan got. About the fan (when they joined, by which keyword): deleted.
    Place("messaging.WelcomeEnrolment", "*", Tie.FAN, OnErase.DELETE, "the fan's place in a welcome series", "fan"),
    Place("messaging.WelcomeStepSend", "*", Tie.FAN, OnErase.DELETE, "which welcome texts the fan got", "fan"),
    Place("messaging.DateEnrolment", "*", Tie.FAN, OnErase.DELETE, "the fan's birthday or join-date plan", "fan"),
    Place("messaging.DateSend", "*", Tie.FAN, OnErase.DELETE, "which date texts the fan got", "fan"),
]


def places(*, tie: Tie | None = None, on_erase: OnErase | None = None) -> list[Place]:
    return [p for p in INVENTORY if (tie is None or p.tie == tie) and (on_erase is None or p.on_erase == on_erase)]
