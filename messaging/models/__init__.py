"""What is sent and received. One module per area; import models from here."""

from messaging.models.audience import ContactList, ContactListMember, Segment
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
    "InboundMessage",
    "OutboundMessage",
    "Segment",
    "SenderClock",
    "TrackedLink",
    "UndeliverableNumber",
]
