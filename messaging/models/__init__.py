"""What is sent and received. One module per area; import models from here."""

from messaging.models.audience import ContactList, ContactListMember, Segment
from messaging.models.campaigns import Campaign
from messaging.models.messages import InboundMessage, OutboundMessage

__all__ = [
    "Campaign",
    "ContactList",
    "ContactListMember",
    "InboundMessage",
    "OutboundMessage",
    "Segment",
]
