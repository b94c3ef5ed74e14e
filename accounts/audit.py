"""One call to write an audit row; services call it inside their transaction."""

from __future__ import annotations

from typing import Any

from accounts.models import AuditEvent, Talent


def audit(
    action: str,
    *,
    talent: Talent | None = None,
    actor: Any = None,
    obj: Any = None,
    **details: Any,
) -> AuditEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        talent=talent,
        actor=user,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        details=details,
    )
