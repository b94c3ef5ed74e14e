"""Who may do what, for which talent. Roles map to capabilities; the admin and API ask here.

A superuser may do everything everywhere. Anyone else may act only for the talents they are a
TeamMember of, and only within their role's capabilities.
"""

from __future__ import annotations

from typing import Any

from accounts.models import TeamMember

Role = TeamMember.Role

CAPABILITIES: dict[str, set[str]] = {
    "view": {Role.OWNER, Role.MANAGER, Role.AGENT, Role.ANALYST},
    "reply": {Role.OWNER, Role.MANAGER, Role.AGENT},  # answer fans in the inbox
    "edit_audience": {Role.OWNER, Role.MANAGER},  # fans, lists, segments, imports
    "compose": {Role.OWNER, Role.MANAGER},  # campaigns: create, schedule, cancel
    "approve": {Role.OWNER, Role.MANAGER},  # second pair of eyes on a large campaign
    "export": {Role.OWNER, Role.ANALYST},  # audience exports leave the building: few may
    "edit_terms": {Role.OWNER},
    "manage_team": {Role.OWNER},
    "edit_talent": {Role.OWNER},
}


def roles_by_talent(user: Any) -> dict[int, str]:
    """{talent_id: role} for a user, cached on the user object (one query per request)."""
    if not getattr(user, "is_authenticated", False):
        return {}
    cached = getattr(user, "_fancommunity_roles", None)
    if cached is None:
        cached = dict(TeamMember.objects.filter(user=user, talent__is_active=True).values_list("talent_id", "role"))
        user._fancommunity_roles = cached
    return cached


def talent_ids(user: Any, capability: str = "view") -> set[int] | None:
    """The talents where `user` has `capability`; None means all (superuser)."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return None
    allowed = CAPABILITIES[capability]
    return {talent_id for talent_id, role in roles_by_talent(user).items() if role in allowed}


def can(user: Any, capability: str, talent_id: int | None = None) -> bool:
    """May `user` do `capability` for `talent_id` (for any talent when talent_id is None)?"""
    ids = talent_ids(user, capability)
    if ids is None:
        return True
    return bool(ids) if talent_id is None else talent_id in ids
