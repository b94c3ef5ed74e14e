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
from messaging.models.campaigns import Campaign
from messaging.models.messages import InboundMessage, OutboundMessage

__all__ = [
    "Campaign",
    "ContactList",
    "ContactListMember",
    "ExportAudit",
    "FanTag",
    "ImportBatch",
    "InboundMessage",
    "OutboundMessage",
    "Segment",
    "Tag",
]
