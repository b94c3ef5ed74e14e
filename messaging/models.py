"""Every model of the messaging app, imported here so Django registers them under the "messaging" label.

Each model lives in its domain package (sms, audience, campaigns, sending); import from there or from here.
"""

from messaging.audience.models import (
    ContactList,
    ContactListMember,
    ExportAudit,
    FanTag,
    ImportBatch,
    Segment,
    Tag,
)
from messaging.campaigns.models import Campaign, CampaignStateError, Click, TrackedLink
from messaging.console.models import DailyFigures
from messaging.conversations.models import (
    Conversation,
    ConversationEvent,
    Episode,
    Note,
    Poll,
    Presence,
    SavedReply,
    Vote,
)
from messaging.sending.models import SenderClock, UndeliverableNumber
from messaging.sms.models import InboundMessage, OutboundMessage

__all__ = [
    "Campaign",
    "CampaignStateError",
    "Click",
    "ContactList",
    "ContactListMember",
    "DailyFigures",
    "ExportAudit",
    "FanTag",
    "ImportBatch",
    "InboundMessage",
    "OutboundMessage",
    "Segment",
    "SenderClock",
    "Tag",
    "TrackedLink",
    "UndeliverableNumber",
    "Conversation",
    "ConversationEvent",
    "Episode",
    "Note",
    "Presence",
    "SavedReply",
    "Poll",
    "Vote",
]
# Issue 17: the sender pool (messaging/sending/models.py).
from messaging.sending.models import FanCarrier, Sender, SenderDailyCount, SenderLaneClock, SenderPool  # noqa: E402

__all__ += ["FanCarrier", "Sender", "SenderDailyCount", "SenderLaneClock", "SenderPool"]
