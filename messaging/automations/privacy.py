"""The fan's automation data for export and erasure (messaging/privacy/inventory.py names each table)."""

from __future__ import annotations

from accounts.models import Fan
from messaging.automations.drop_models import DropCode, DropEntry
from messaging.automations.keyword_models import FanKeyword, KeywordEntrant, KeywordReply


def automation_data(*, fan: Fan) -> dict:
    joined = FanKeyword.objects.filter(fan=fan).first()
    codes = dict(DropCode.objects.filter(fan=fan).values_list("drop_id", "code"))
    return {
        "joined_with_keyword": joined.word.upper() if joined else None,
        "drops": [
            {
                "drop": e.drop.name,
                "status": e.status,
                "joined_at": e.created_at.isoformat(),
                "code": codes.get(e.drop_id),
            }
            for e in DropEntry.objects.filter(fan=fan).select_related("drop").order_by("created_at")
        ],
    }


def automation_data_erase(*, fan: Fan) -> None:
    """Erasure: every row saying which keyword the fan texted, which drop it joined, which code it got."""
    FanKeyword.objects.filter(fan=fan).delete()
    KeywordEntrant.objects.filter(fan=fan).delete()
    KeywordReply.objects.filter(fan=fan).delete()
    DropEntry.objects.filter(fan=fan).delete()
    DropCode.objects.filter(fan=fan).delete()
