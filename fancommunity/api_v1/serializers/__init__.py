"""v1 input and output shapes. Inputs validate; services act; outputs render (STYLE.md 10).

No serializer takes a talent: v1 acts for the token's talent (or the console's current one), so a
client can neither name nor guess another talent.

One module per resource; this package re-exports them all, so views keep `serializers as s`.
"""

from __future__ import annotations

from fancommunity.api_v1.serializers.audience import (  # noqa: F401
    ContactListSerializer,
    CountSerializer,
    ExportQuerySerializer,
    MembersInputSerializer,
    MembersResultSerializer,
    SegmentSerializer,
    TagSerializer,
)
from fancommunity.api_v1.serializers.automations import (  # noqa: F401
    DropSerializer,
    KeywordSerializer,
)
from fancommunity.api_v1.serializers.campaigns import (  # noqa: F401
    CampaignSerializer,
    EstimateSerializer,
    OptionalUrlField,
    PauseSerializer,
    ReportSerializer,
    WallClockTimeField,
)
from fancommunity.api_v1.serializers.conversations import (  # noqa: F401
    AssignSerializer,
    ConversationDetailSerializer,
    ConversationFilterSerializer,
    ConversationSerializer,
    NoteInputSerializer,
    NoteSerializer,
    ReplyResultSerializer,
    ReplySerializer,
    SnoozeSerializer,
    ThreadItemSerializer,
)
from fancommunity.api_v1.serializers.fans import (  # noqa: F401
    PROFILE_INPUT,
    ConsentEvidenceSerializer,
    ConsentFilterSerializer,
    ConsentRecordSerializer,
    EraseSerializer,
    FanCreateSerializer,
    FanFilterSerializer,
    FanProfileSerializer,
    FanSerializer,
    OptOutSerializer,
    TalentSerializer,
    fan_dicts,
    fan_values,
)
from fancommunity.api_v1.serializers.messages import (  # noqa: F401
    MessageFilterSerializer,
    MessageSerializer,
    mask_links,
)
from fancommunity.api_v1.serializers.webhooks import (  # noqa: F401
    SecretSerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    WebhookEventTypeSerializer,
)
