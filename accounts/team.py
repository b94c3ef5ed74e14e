"""The team: invite by email, accept, revoke, change a role, remove a member. Every change is audited.

Services in the style of the rest of the project: keyword-only, typed, one transaction each, an
AuditEvent in the same transaction. The console (accounts/admin/members.py) and the invite pages
(accounts/team_views.py) call these and show the message of a TeamError (or of NotAllowed, the one
permission refusal: accounts/actors.py); none of them writes TeamMember or Invite rows themselves.

Invite links: /team/invite/<token>/, token = <invite id, base36>-<HMAC over the invite's id,
talent, email, role, creation time and status>. Accepting or revoking changes the status, so a
used link dies; TEAM_INVITE_MAX_AGE ends an unused one (Invite.expires_at). The token is derived,
never stored, so the console can show a pending invite's link again to copy.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import base36_to_int, int_to_base36

from accounts.actors import require
from accounts.audit import audit
from accounts.models import Invite, Talent, TeamMember

logger = logging.getLogger(__name__)
Role = TeamMember.Role
_SALT = "fancommunity.accounts.team.invite"


class TeamError(Exception):
    """A refused team change, with a message the console shows as it is."""


def _require_owner(actor: Any, talent_id: int) -> None:
    require(actor, "manage_team", talent_id, refusal="Only an owner of this talent can change its team.")


# --- invite tokens ------------------------------------------------------------------------------
def invite_token(invite: Invite) -> str:
    state = (
        f"{invite.pk}:{invite.talent_id}:{invite.email}:{invite.role}:{invite.status}:{invite.created_at.timestamp()}"
    )
    digest = salted_hmac(_SALT, state, secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()[::2]
    return f"{int_to_base36(invite.pk)}-{digest}"


def invite_url(invite: Invite) -> str:
    return settings.PUBLIC_BASE_URL + reverse("team-invite", args=[invite_token(invite)])


def invite_from_token(token: str, *, lock: bool = False) -> Invite | None:
    """The pending, unexpired invite the token is for, or None (bad, used, revoked or old)."""
    if not token or len(token) > 80 or token.count("-") != 1:
        return None
    id_b36, _ = token.split("-")
    try:
        invite_id = base36_to_int(id_b36)
    except ValueError:
        return None
    queryset = Invite.objects.select_related("talent")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    invite = queryset.filter(pk=invite_id).first()
    if invite is None or not constant_time_compare(invite_token(invite), token):
        return None
    if invite.status != Invite.Status.PENDING or invite.expires_at <= timezone.now() or not invite.talent.is_active:
        return None
    return invite


# --- invites ------------------------------------------------------------------------------------
def invite_create(*, talent: Talent, email: str, role: str, actor: Any) -> Invite:
    """A pending invite (an earlier pending one to the same address is revoked: one live link)."""
    _require_owner(actor, talent.pk)
    email = email.strip().lower()
    if role not in Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    user_model = get_user_model()
    if TeamMember.objects.filter(talent=talent, user__in=user_model.objects.filter(email__iexact=email)).exists():
        raise TeamError(f"{email} is already on {talent}'s team: change their role instead.")
    now = timezone.now()
    with transaction.atomic():
        replaced = list(
            Invite.objects.select_for_update()
            .filter(talent=talent, email=email, status=Invite.Status.PENDING)
            .values_list("pk", flat=True)
        )
        Invite.objects.filter(pk__in=replaced).update(status=Invite.Status.REVOKED, closed_at=now)
        invite = Invite.objects.create(
            talent=talent,
            email=email,
            role=role,
            invited_by=actor if getattr(actor, "is_authenticated", False) else None,
            expires_at=now + dt.timedelta(seconds=settings.TEAM_INVITE_MAX_AGE),
        )
        audit("team.invite_created", talent=talent, actor=actor, obj=invite, email=email, role=role, replaced=replaced)
    return invite


def invite_email_send(*, invite: Invite) -> bool:
    """Mail the link (EMAIL_URL). False when the mail server refused: the owner copies the link."""
    inviter = (
        (invite.invited_by.get_full_name() or invite.invited_by.get_username()) if invite.invited_by else "An owner"
    )
    days = max(1, round((invite.expires_at - timezone.now()).total_seconds() / 86400))
    body = (
        f"{inviter} invited you to work on {invite.talent}'s fan community as {invite.get_role_display().lower()}.\n\n"
        f"Open this link to set your password and sign in (it works once, for {days} day{'s' if days != 1 else ''}):\n"
        f"{invite_url(invite)}\n\n"
        "If you did not expect this, ignore this mail: nothing happens unless the link is opened."
    )
    try:
        send_mail(f"You're invited to {invite.talent}'s team", body, None, [invite.email])
    except Exception:  # SMTP refused, DNS, timeout: the link is still shown to the owner
        logger.warning("invite %s: mail to the invitee failed", invite.pk, exc_info=True)
        return False
    return True


def invite_revoke(*, invite: Invite, actor: Any) -> bool:
    """Kill a pending invite's link. False when it was no longer pending."""
    _require_owner(actor, invite.talent_id)
    with transaction.atomic():
        updated = Invite.objects.filter(pk=invite.pk, status=Invite.Status.PENDING).update(
            status=Invite.Status.REVOKED, closed_at=timezone.now()
        )
        if updated:
            audit("team.invite_revoked", talent=invite.talent, actor=actor, obj=invite, email=invite.email)
    return bool(updated)


def invite_accept(*, token: str, user: Any = None, password: str | None = None) -> TeamMember:
    """Join the team the token invites to: as `user`, or as a new user (username = the invited
    address) with `password` (validated by the caller's form). Makes the user console staff."""
    with transaction.atomic():
        invite = invite_from_token(token, lock=True)
        if invite is None:
            raise TeamError("This invite link is no longer valid: it was used, revoked or has expired.")
        if user is None:
            user_model = get_user_model()
            if user_model.objects.filter(username__iexact=invite.email).exists():
                raise TeamError("An account with this address exists already: sign in to accept the invite.")
            user = user_model.objects.create_user(
                username=invite.email, email=invite.email, password=password, is_staff=True
            )
        elif not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        member, created = TeamMember.objects.get_or_create(
            user=user, talent=invite.talent, defaults={"role": invite.role}
        )
        previous = None if created else member.role
        if not created and invite.role != Role.OWNER and _is_last_owner(member):
            # An owner opening their own invite link must not demote the talent's last owner.
            raise TeamError(f"You are already the last owner of {invite.talent}: the invite is not for you.")
        if not created and member.role != invite.role:
            member.role = invite.role
            member.save(update_fields=["role"])
        Invite.objects.filter(pk=invite.pk).update(
            status=Invite.Status.ACCEPTED, accepted_by=user, closed_at=timezone.now()
        )
        audit(
            "team.invite_accepted",
            talent=invite.talent,
            actor=user,
            obj=member,
            invite=invite.pk,
            role=invite.role,
            previous_role=previous,
        )
        user._fancommunity_roles = None  # roles_by_talent's per-request cache
    return member


# --- members ------------------------------------------------------------------------------------
def _is_last_owner(member: TeamMember) -> bool:
    if member.role != Role.OWNER:
        return False
    # Locked: two owners demoting each other at once must not leave the talent with none.
    owners = list(
        TeamMember.objects.select_for_update()
        .filter(talent_id=member.talent_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )
    return owners == [member.pk]


def _locked_member(member: TeamMember, *, leaving: bool) -> TeamMember:
    """The member's row, locked, for a role change or a removal (inside the caller's transaction).
    `leaving`: the change takes them out of the owners; refused if they are the talent's last."""
    member = TeamMember.objects.select_for_update().select_related("user", "talent").get(pk=member.pk)
    if leaving and _is_last_owner(member):
        raise TeamError(f"{member.user} is the last owner of {member.talent}: make someone else owner first.")
    return member


def is_last_owner(member: TeamMember) -> bool:
    """For the console's messages and buttons (not locked; the services check again)."""
    return (
        member.role == Role.OWNER
        and not TeamMember.objects.filter(talent_id=member.talent_id, role=Role.OWNER).exclude(pk=member.pk).exists()
    )


def member_role_change(*, member: TeamMember, role: str, actor: Any) -> TeamMember:
    _require_owner(actor, member.talent_id)
    if role not in Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    with transaction.atomic():
        member = _locked_member(member, leaving=role != Role.OWNER)
        if member.role == role:
            return member
        previous = member.role
        member.role = role
        member.save(update_fields=["role"])
        audit(
            "team.role_changed",
            talent=member.talent,
            actor=actor,
            obj=member,
            user=member.user_id,
            previous_role=previous,
            role=role,
        )
    return member


def member_remove(*, member: TeamMember, actor: Any) -> None:
    """Take someone off a talent's team. A user left on no team loses console access (is_staff)."""
    _require_owner(actor, member.talent_id)
    with transaction.atomic():
        member = _locked_member(member, leaving=True)
        user = member.user
        audit(
            "team.member_removed",
            talent=member.talent,
            actor=actor,
            obj=member,
            user=user.pk,
            username=user.get_username(),
            role=member.role,
        )
        member.delete()
        if not user.is_superuser and not TeamMember.objects.filter(user=user).exists() and user.is_staff:
            user.is_staff = False
            user.save(update_fields=["is_staff"])
