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
    event = audit_event(action, talent=talent, actor=actor, obj=obj, **details)
    event.save(force_insert=True)
    return event


def audit_event(
    action: str,
    *,
    talent: Talent | None = None,
    actor: Any = None,
    obj: Any = None,
    **details: Any,
) -> AuditEvent:
    """The row `audit` writes, not yet saved (for a caller that writes it in a statement of its own)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent(
        talent=talent,
        actor=user,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        details=details,
    )
