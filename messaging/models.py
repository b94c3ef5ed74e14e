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
from messaging.automations.drop_models import Drop, DropCode, DropEntry  # issue 14
from messaging.automations.keyword_models import FanKeyword, Keyword, KeywordEntrant, KeywordReply  # issue 14
from messaging.automations.series_models import (  # issue 14: welcome series, date messages
    AutomationCampaign,
    DateEnrolment,
    DateMessage,
    DateSend,
    UpcomingAutomation,
    WelcomeEnrolment,
    WelcomeSeries,
    WelcomeStep,
    WelcomeStepSend,
)
from messaging.campaigns.models import Campaign, CampaignStateError, Click, TrackedLink
from messaging.console.models import DailyFigures
from messaging.conversations.models import (
    Conversation,
    ConversationEvent,
    Episode,
    InboundMedia,
    InboxSettings,
    MemberInbox,
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
    "Keyword",
    "KeywordEntrant",
    "KeywordReply",
    "FanKeyword",
    "Drop",
    "DropEntry",
    "DropCode",
    "AutomationCampaign",
    "DateEnrolment",
    "DateMessage",
    "DateSend",
    "UpcomingAutomation",
    "WelcomeEnrolment",
    "WelcomeSeries",
    "WelcomeStep",
    "WelcomeStepSend",
    "InboxSettings",
    "MemberInbox",
    "InboundMedia",
]
# Issue 17: the sender pool (messaging/sending/models.py).
from messaging.sending.models import FanCarrier, Sender, SenderDailyCount, SenderLaneClock, SenderPool  # noqa: E402

__all__ += ["FanCarrier", "Sender", "SenderDailyCount", "SenderLaneClock", "SenderPool"]
# Issue 13: the themes' snapshot per campaign (messaging/conversations/themes.py).
from messaging.conversations.models import CampaignThemes  # noqa: E402

__all__ += ["CampaignThemes"]
