"""Who is acting, and the one check of what they may do: `require(actor, capability, talent)`.

An `Actor` is one of three kinds:

- a team member (a signed-in user): their role in the talent gives the capabilities
  (accounts/permissions.py); a superuser may do everything everywhere, as before;
- an API token: it acts for its one talent only, with the authority of the member who created it
  and never more (if they leave the team or lose the role, the token loses it too), narrowed by
  its scopes (accounts/api_tokens.py SCOPES);
- the system: management commands, tasks and the server's own work, which run with the server's
  authority. Services have long taken `actor=None` for this; `as_actor(None)` keeps that meaning.

`capability` is a role capability ("edit_audience") or an API scope ("fans:write"). A member needs
the capability (for a scope: the capability the scope needs). A token needs a scope: the named one,
or for a bare capability any granted scope that needs it. Asking by scope is the precise form the
API uses; asking by capability lets a service check a token and a person in the same line.

Every refusal is one error type, `NotAllowed`. It is a Django PermissionDenied (the admin answers
403, DRF answers 403 with the message) and a PermissionError (what the audience services raised
before, which callers still catch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from django.core.exceptions import PermissionDenied

from accounts import permissions
from accounts.api_tokens import SCOPES
from accounts.integration_models import ApiToken
from accounts.models import Talent

Kind = Literal["member", "token", "system"]


class NotAllowed(PermissionDenied, PermissionError):
    """The actor may not do this for this talent; the message says what, for the page to show."""


@dataclass(frozen=True)
class Actor:
    kind: Kind
    user: Any = None  # the member; for a token, its creator (who it acts for); None for the system
    token: ApiToken | None = None

    SYSTEM: ClassVar[Actor]

    @classmethod
    def member(cls, user: Any) -> Actor:
        return cls("member", user=user)

    @classmethod
    def api_token(cls, token: ApiToken) -> Actor:
        return cls("token", user=token.created_by, token=token)

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def __str__(self) -> str:
        if self.kind == "token":
            return f"API token {self.token}"
        if self.kind == "member":
            return getattr(self.user, "username", "") or "someone"
        return "the system"


Actor.SYSTEM = Actor("system")
SYSTEM = Actor.SYSTEM


def as_actor(who: Any) -> Actor:
    """An Actor for what callers pass today: an Actor, an ApiToken, a user, or None (the system)."""
    if isinstance(who, Actor):
        return who
    if who is None:
        return SYSTEM
    if isinstance(who, ApiToken):
        return Actor.api_token(who)
    return Actor.member(who)


def _talent_id(talent: Talent | int | None) -> int | None:
    return talent.pk if isinstance(talent, Talent) else talent


def _token_allows(token: ApiToken, capability: str, talent_id: int | None) -> bool:
    if talent_id is not None and talent_id != token.talent_id:
        return False  # a token acts for its one talent
    if not token.is_usable:
        return False
    if capability in SCOPES:
        scopes = [capability] if capability in token.scopes else []
    else:
        scopes = [s for s in token.scopes if SCOPES.get(s) == capability]
    # The creator's role is asked every time: a token never outlives its creator's rights.
    return any(permissions.can(token.created_by, SCOPES[s], token.talent_id) for s in scopes)


def allows(actor: Any, capability: str, talent: Talent | int | None) -> bool:
    """May `actor` do `capability` for `talent` (for any talent when talent is None)?"""
    needed = SCOPES.get(capability, capability)
    if needed not in permissions.CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")  # a typo must not read as "refused"
    who = as_actor(actor)
    if who.kind == "system":
        return True
    if who.kind == "token":
        assert who.token is not None
        return _token_allows(who.token, capability, _talent_id(talent))
    return permissions.can(who.user, needed, _talent_id(talent))


def require(actor: Any, capability: str, talent: Talent | int | None, *, refusal: str = "") -> None:
    """Raise NotAllowed unless `actor` may do `capability` for `talent`. Services call it even
    when their page checked first (the page checks for a nicer screen; the service is the rule)."""
    if allows(actor, capability, talent):
        return
    if not refusal:
        whom = f" for {talent}" if isinstance(talent, Talent) else ""
        refusal = f"You may not {capability.replace('_', ' ')}{whom}."
    raise NotAllowed(refusal)
