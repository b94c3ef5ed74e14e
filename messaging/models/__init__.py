"""What is sent and received. One module per area; import models from here."""

from messaging.models.audience import (
    ContactList,
    ContactListMember,
    ExportAudit,
    FanTag,
    ImportBatch,
    Segment,
    Tag,
)
from messaging.models.campaigns import (
    Campaign,
    CampaignStateError,
    Click,
    SenderClock,
    TrackedLink,
    UndeliverableNumber,
)
from messaging.models.messages import InboundMessage, OutboundMessage

__all__ = [
    "Campaign",
    "CampaignStateError",
    "Click",
    "ContactList",
    "ContactListMember",
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
]
