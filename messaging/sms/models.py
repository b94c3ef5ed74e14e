"""Messages both ways: one OutboundMessage per text we send, one InboundMessage per text received."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Fan, Talent


class OutboundMessage(models.Model):
    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", "Campaign"
        REPLY = "reply", "Reply from the team"
        SYSTEM = "system", "Compliance / system"  # keyword replies, confirmations, links

    class Lane(models.IntegerChoices):
        # One-to-one texts leave in this order on the priority lane (campaign rows ignore it).
        COMPLIANCE = 0, "Compliance"  # STOP/START/HELP confirmations, data links: first, never capped
        PERSONAL = 1, "Personal"  # team replies, signup codes
        LINK = 2, "Join link"  # answers to strangers: the bulk of a celebrity burst

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # created (materialised); not yet claimed
        CLAIMED = "claimed", "Claimed"  # a worker holds the lease and is about to send
        UNCERTAIN = "uncertain", "Uncertain"  # request left but no answer; reconciled, never resent blindly
        QUEUED = "queued", "Queued"  # provider accepted it (Twilio queued/accepted)
        SENT = "sent", "Sent"  # status callback: handed to the carrier
        DELIVERED = "delivered", "Delivered"  # status callback: final
        UNDELIVERED = "undelivered", "Undelivered"  # status callback: final
        FAILED = "failed", "Failed"  # provider refused or callback failed: final
        SUPPRESSED = "suppressed", "Suppressed"  # not sent: opted out, cap, quiet-hours skip ...
        CANCELLED = "cancelled", "Cancelled"  # campaign cancelled before this row was sent

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="outbound_messages")
    # No single-column indexes on fan and campaign: (fan, -created_at) and (campaign, fan) lead
    # with them already, and every index costs on each of a blast's million inserts and updates.
    fan = models.ForeignKey(
        Fan, on_delete=models.SET_NULL, null=True, blank=True, related_name="outbound_messages", db_index=False
    )
    campaign = models.ForeignKey(
        "messaging.Campaign", on_delete=models.CASCADE, null=True, blank=True, related_name="messages", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CAMPAIGN)
    to_number = models.CharField(max_length=20)
    body = models.TextField(blank=True)
    media_url = models.URLField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Unique where set (a partial constraint, see Meta): rows waiting to be sent have no sid.
    provider_sid = models.CharField(max_length=64, null=True, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    # SMS parts the carrier bills for this text; the column keeps its old name.
    parts = models.PositiveSmallIntegerField("SMS parts", default=1, db_column="segments")
    attempts = models.PositiveSmallIntegerField(default=0)
    # db_default: the campaign INSERT ... SELECT names its columns and leaves this one to the database.
    lane = models.PositiveSmallIntegerField(choices=Lane.choices, default=Lane.PERSONAL, db_default=Lane.PERSONAL)
    # Campaign rows: not sent before this instant (the campaign's start, the fan's local send time,
    # the end of their quiet hours, or a retry's backoff). Set on every campaign row.
    not_before = models.DateTimeField(null=True, blank=True)
    # The claim: when the current lease began (also the batch's token, and the "since" of a
    # reconciliation lookup at the provider) and until when the claiming worker owns the row.
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The team member who wrote a reply.",
        db_index=False,  # partial index in Meta: campaign rows have no author
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Nothing sent twice: one row per (campaign, fan), created before anything is sent.
            models.UniqueConstraint(
                fields=["campaign", "fan"], condition=models.Q(campaign__isnull=False), name="outbound_campaign_fan"
            ),
            models.UniqueConstraint(
                fields=["provider_sid"], condition=models.Q(provider_sid__isnull=False), name="outbound_provider_sid"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="outbound_campaign_status"),
            models.Index(fields=["fan", "-created_at"], name="outbound_fan_recent"),
            # Every status change of a blast's rows writes an entry in each index whose condition
            # the row meets: partial indexes keep that to the rows each lookup is for. A blast's
            # million rows pass through `claimed` once; the sweeper looks only at claimed and
            # uncertain rows, the status webhook only at rows with a sid, the inbox at replies.
            models.Index(
                fields=["status", "lease_until"],
                condition=models.Q(status__in=["claimed", "uncertain"]),
                name="outbound_lease",
            ),
            models.Index(fields=["sent_by"], condition=models.Q(sent_by__isnull=False), name="outbound_sent_by"),
            # The claim query walks a campaign's due pending rows (not_before, then id order); a
            # partial index stays small as the blast proceeds (claimed rows leave it) and skips
            # rows held for later (another time zone, quiet hours) without reading them.
            models.Index(
                fields=["campaign", "not_before", "id"], condition=models.Q(status="pending"), name="outbound_pending"
            ),
            # The priority lane's claim: pending one-to-one texts in lane order (never campaign rows).
            models.Index(
                fields=["lane", "id"],
                condition=models.Q(status="pending", campaign__isnull=True),
                name="outbound_priority_pending",
            ),
            # A STOP's suppression of the fan's waiting one-to-one texts (priority.py
            # `suppress_pending_for`, inside the webhook's request). Without it PostgreSQL walked
            # the lane's index above, every pending link of a burst, for one fan's rows: ~2.7 ms
            # a STOP at 8,000 waiting links (pg_stat_statements, the celebrity bench).
            models.Index(
                fields=["fan"],
                condition=models.Q(status="pending", campaign__isnull=True),
                name="outbound_pending_fan",
            ),
        ]

    def __str__(self) -> str:
        return f"to {self.to_number}: {self.body[:40]}"

    def advance_status(self, status: str, *, error_code: str = "", error_message: str = "") -> bool:
        """Move this row forward to `status` (a provider status); repeats and regressions are no-ops.

        One conditional UPDATE, so concurrent callbacks for the same message cannot move it back.
        """
        lower = statuses_below(status)
        if not lower:
            return False
        fields: dict = {"status": status, "updated_at": timezone.now()}
        if error_code:
            fields["error_code"] = error_code[:16]
        if error_message:
            fields["error_message"] = error_message[:300]
        moved = OutboundMessage.objects.filter(pk=self.pk, status__in=lower).update(**fields)
        if moved:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(moved)


S = OutboundMessage.Status
# Statuses only move up this ranking. Rows before acceptance (pending, claimed, uncertain) rank 0;
# a provider status callback can move them up when it arrives before the sender recorded the sid.
STATUS_RANK: dict[str, int] = {
    S.PENDING: 0,
    S.CLAIMED: 0,
    S.UNCERTAIN: 0,
    S.QUEUED: 1,
    S.SENT: 2,
    S.DELIVERED: 3,
    S.UNDELIVERED: 3,
    S.FAILED: 3,
    S.SUPPRESSED: 3,
    S.CANCELLED: 3,
}
FINAL_STATUSES = frozenset(s for s, rank in STATUS_RANK.items() if rank == 3)


def statuses_below(status: str) -> list[str]:
    """The statuses a row may move from to reach `status` (strictly lower rank)."""
    rank = STATUS_RANK[status]
    return [s for s, r in STATUS_RANK.items() if r < rank]


class InboundMessage(models.Model):
    """A text a fan (or anyone) sent to a talent's number, stored raw before it is processed."""

    class Action(models.TextChoices):
        # What the keyword rules (consent/keywords.py) decided; set when processed.
        NONE = "", "Not processed"
        OPT_OUT = "opt_out", "Opt-out keyword"
        OPT_IN = "opt_in", "Opt-in keyword"
        HELP = "help", "Help keyword"
        MY_DATA = "my_data", "Data-page keyword"
        JOIN_LINK = "join_link", "Sent a signup link"
        JOIN_LINK_SKIPPED = "join_link_skipped", "Signup link already sent recently"
        INBOX = "inbox", "For the team's inbox"
        IGNORED = "ignored", "No reply (opted out or erased sender)"
        POSSIBLE_OPT_OUT = "possible_opt_out", "Possible opt-out: held, for the team to decide"
        KEYWORD = "keyword", "Talent keyword: its automation ran"  # issue 14

    # No index of their own: inbound_inbox and inbound_fan_recent below lead with these columns and
    # serve every lookup by them (a talent's deletion, a fan's erasure too). Each index costs every
    # text of a burst two entries, one at its store and one when the rules set its fan (an update
    # of indexed columns writes a new entry in every index), so the two were dropped (issue 10).
    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="inbound_messages", db_index=False)
    fan = models.ForeignKey(
        Fan, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_messages", db_index=False
    )
    message_sid = models.CharField(max_length=64, unique=True)  # Twilio retries: idempotent on it
    from_number = models.CharField(max_length=20)
    to_number = models.CharField(max_length=20)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=24, choices=Action.choices, blank=True, default="", db_default="")
    # The inbox: a reply that is not a keyword waits here until a team member answers or archives it.
    needs_reply = models.BooleanField(default=False)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["talent", "needs_reply", "-received_at"], name="inbound_inbox"),
            models.Index(fields=["fan", "-received_at"], name="inbound_fan_recent"),
            # The rule processor's queue: texts stored by the webhook and not yet processed.
            models.Index(fields=["id"], condition=models.Q(processed_at__isnull=True), name="inbound_unprocessed"),
        ]

    def __str__(self) -> str:
        return f"from {self.from_number}: {self.body[:40]}"
