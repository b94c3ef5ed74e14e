"""One talent at a time: the talent a console user works in now (issue 11).

The choice lives in the session under SESSION_KEY: a talent id, or ALL (superusers only). It is
checked against the user's memberships every time it is read, so a membership removed mid-session
stops counting at the next request. A team member always has one current talent (the stored one,
else their first by name): no console page mixes two talents' rows. A superuser sees all talents
until they pick one.

Console pages (accounts/admin_scoping.py), the front page and the API's session-authenticated
requests narrow `permissions.talent_ids()` through `narrow()`; Basic-auth API callers are not
narrowed (a script has no session to switch in).
"""

from __future__ import annotations

from typing import Any

from accounts import permissions
from accounts.models import Talent

SESSION_KEY = "console_talent"
ALL = "all"
_CACHE_ATTR = "_fancommunity_current_talent"


class SwitchRefused(Exception):
    """A switch to a talent the user is no member of (or to "all" by a non-superuser)."""


def choices(user: Any) -> list[Talent]:
    """The talents `user` may switch to, by name: every talent for a superuser, else their active ones."""
    if not getattr(user, "is_authenticated", False):
        return []
    talents = Talent.objects.order_by("display_name", "pk")
    if user.is_superuser:
        return list(talents)
    return list(talents.filter(pk__in=permissions.roles_by_talent(user).keys()))


def _is_superuser(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False) and getattr(user, "is_active", False))


def _resolve(request) -> int | None:
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return None
    session = getattr(request, "session", None)
    stored = session.get(SESSION_KEY) if session is not None else None
    if _is_superuser(user):
        if isinstance(stored, int) and Talent.objects.filter(pk=stored).exists():
            return stored
        return None  # all talents
    member_of = permissions.roles_by_talent(user)
    if isinstance(stored, int) and stored in member_of:
        return stored
    if not member_of:
        return None  # no talent at all: talent_ids() is empty, nothing is shown
    first = Talent.objects.filter(pk__in=member_of.keys()).order_by("display_name", "pk").values_list("pk", flat=True)
    return first.first()


def current_id(request) -> int | None:
    """The current talent's id, or None for "all talents" (a superuser's default)."""
    target = getattr(request, "_request", request)  # a DRF Request wraps the HttpRequest
    if not hasattr(target, _CACHE_ATTR):
        setattr(target, _CACHE_ATTR, _resolve(target))
    return getattr(target, _CACHE_ATTR)


def current(request) -> Talent | None:
    talent_id = current_id(request)
    return None if talent_id is None else Talent.objects.filter(pk=talent_id).first()


def narrow(request, ids: set[int] | None) -> set[int] | None:
    """`permissions.talent_ids()` (None = all) cut down to the current talent."""
    talent_id = current_id(request)
    if talent_id is None:
        return ids
    if ids is None:
        return {talent_id}
    return ids & {talent_id}


def talent_ids(request, capability: str = "view") -> set[int] | None:
    """The talents the request acts for with `capability`: the user's, narrowed to the current one."""
    return narrow(request, permissions.talent_ids(request.user, capability))


def switch(request, value: str) -> Talent | None:
    """Make `value` (a talent id, or "all" for superusers) the current talent; None = all.

    Raises SwitchRefused, and changes nothing, for a talent the user is no member of."""
    user = request.user
    target = getattr(request, "_request", request)
    if value == ALL:
        if not _is_superuser(user):
            raise SwitchRefused("Only an operator can see all talents at once.")
        talent = None
    else:
        talent = Talent.objects.filter(pk=int(value)).first() if str(value).isdigit() else None
        allowed = _is_superuser(user) or (talent is not None and talent.pk in permissions.roles_by_talent(user))
        if talent is None or not allowed:
            raise SwitchRefused("You are not a member of that talent's team.")
    target.session[SESSION_KEY] = ALL if talent is None else talent.pk
    if hasattr(target, _CACHE_ATTR):
        delattr(target, _CACHE_ATTR)
    return talent


# A small palette of brand colours, each dark enough for white text (WCAG AA, 4.5:1), picked by the
# talent's slug until a talent can choose its own on its settings page.
BRAND_COLORS = ["#6d28d9", "#b91c1c", "#1d4ed8", "#047857", "#a21caf", "#c2410c", "#0e7490", "#4338ca"]


def brand_color(talent: Talent) -> str:
    chosen = getattr(talent, "brand_color", "")
    if chosen:
        return chosen
    return BRAND_COLORS[sum(talent.slug.encode()) % len(BRAND_COLORS)]
