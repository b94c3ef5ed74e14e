"""The team: owners invite by email with a role, the invitee joins through a single-use link,
owners change roles and remove members (never the last owner), every change is audited; console
users reset a forgotten password by email."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from accounts import team
from accounts.actors import NotAllowed
from accounts.models import AuditEvent, Invite, TeamMember

pytestmark = pytest.mark.django_db
Role = TeamMember.Role


def _link(text: str) -> str:
    return re.search(r"https?://\S+/team/invite/\S+/", text).group(0)


def _path(url: str) -> str:
    return url.split("://", 1)[1].partition("/")[2].join(["/", ""])


def _invite(client, owner, email="tia@example.com", role=Role.AGENT):
    client.force_login(owner)
    response = client.post(reverse("admin:accounts_teammember_invite"), {"email": email, "role": role})
    assert response.status_code == 200, response.content[:500]
    return response


def test_owner_invites_and_a_new_teammate_sets_a_password(client, personas):
    response = _invite(client, personas.owner, "Tia@Example.com")
    assert b'id="invite-link"' in response.content  # shown to copy
    invite = Invite.objects.get()
    assert (invite.email, invite.role, invite.talent, invite.status) == (
        "tia@example.com",
        "agent",
        personas.talent,
        "pending",
    )
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["tia@example.com"]
    link = _link(mail.outbox[0].body)
    assert link.startswith("https://fans.example.com/team/invite/")  # PUBLIC_BASE_URL
    assert link in response.content.decode()

    client.logout()
    page = client.get(_path(link))
    assert page.status_code == 200 and b"Nova Ray" in page.content and b"Choose a password" in page.content
    weak = client.post(_path(link), {"action": "create", "new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and b"too short" in weak.content
    done = client.post(
        _path(link), {"action": "create", "new_password1": "a-long-pass-phrase", "new_password2": "a-long-pass-phrase"}
    )
    assert done.status_code == 302 and done["Location"] == reverse("admin:index")
    user = get_user_model().objects.get(username="tia@example.com")
    assert user.is_staff and not user.is_superuser and user.check_password("a-long-pass-phrase")
    assert TeamMember.objects.get(user=user).talent == personas.talent
    assert client.get(reverse("admin:index")).status_code == 200  # signed in, in the console
    fans = client.get(reverse("admin:accounts_fan_changelist"))
    assert list(fans.context["cl"].result_list) == [personas.fan]  # only that talent's fans
    assert set(AuditEvent.objects.filter(talent=personas.talent).values_list("action", flat=True)) >= {
        "team.invite_created",
        "team.invite_accepted",
    }

    # Single use: the link is dead now.
    client.logout()
    again = client.get(_path(link))
    assert again.status_code == 410 and b"no longer works" in again.content


def test_an_existing_user_signs_in_to_accept(client, personas):
    _invite(client, personas.owner, personas.other_manager.email, Role.ANALYST)
    link = _link(mail.outbox[0].body)
    get_user_model().objects.filter(pk=personas.other_manager.pk).update(username=personas.other_manager.email)
    client.logout()
    page = client.get(_path(link))
    assert b"sign in to accept" in page.content
    wrong = client.post(_path(link), {"action": "signin", "username": personas.other_manager.email, "password": "no"})
    assert wrong.status_code == 200 and Invite.objects.get().status == "pending"
    ok = client.post(_path(link), {"action": "signin", "username": personas.other_manager.email, "password": "pw"})
    assert ok.status_code == 302
    roles = dict(TeamMember.objects.filter(user=personas.other_manager).values_list("talent__slug", "role"))
    assert roles == {"nova": "analyst", "rival": "manager"}
    assert client.session["console_talent"] == personas.talent.pk  # the console opens in the talent joined
    fans = client.get(reverse("admin:accounts_fan_changelist"))
    assert list(fans.context["cl"].result_list) == [personas.fan]


def test_expired_revoked_and_forged_links_die(client, personas, settings):
    invite = team.invite_create(talent=personas.talent, email="a@example.com", role=Role.AGENT, actor=personas.owner)
    token = team.invite_token(invite)
    assert team.invite_from_token(token) == invite
    assert team.invite_from_token(token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert team.invite_from_token("zz-nothing") is None and team.invite_from_token("") is None
    # A second invite to the same address replaces the first: one live link.
    second = team.invite_create(talent=personas.talent, email="a@example.com", role=Role.MANAGER, actor=personas.owner)
    assert team.invite_from_token(token) is None and team.invite_from_token(team.invite_token(second)) == second
    assert team.invite_revoke(invite=second, actor=personas.owner)
    assert team.invite_from_token(team.invite_token(second)) is None
    third = team.invite_create(talent=personas.talent, email="b@example.com", role=Role.AGENT, actor=personas.owner)
    Invite.objects.filter(pk=third.pk).update(expires_at=third.created_at)
    assert team.invite_from_token(team.invite_token(third)) is None
    with pytest.raises(team.TeamError):
        team.invite_accept(token=team.invite_token(third), password="a-long-pass-phrase")


def test_only_owners_invite_and_nobody_meets_a_bare_403(client, personas):
    with pytest.raises(NotAllowed):
        team.invite_create(talent=personas.talent, email="x@example.com", role=Role.OWNER, actor=personas.manager)
    with pytest.raises(NotAllowed):
        team.invite_create(talent=personas.talent, email="x@example.com", role=Role.OWNER, actor=personas.other_manager)
    with pytest.raises(team.TeamError, match="already on"):
        team.invite_create(talent=personas.talent, email=personas.agent.email, role=Role.OWNER, actor=personas.owner)
    client.force_login(personas.manager)
    changelist = client.get(reverse("admin:accounts_teammember_changelist"))
    assert changelist.status_code == 200
    assert reverse("admin:accounts_teammember_add").encode() not in changelist.content  # no button
    invite_page = client.get(reverse("admin:accounts_teammember_invite"), follow=True)
    assert invite_page.status_code == 200 and b"Only a talent" in invite_page.content
    assert client.get(reverse("admin:accounts_invite_changelist")).status_code == 403  # links are owners' only
    client.force_login(personas.owner)
    assert client.get(reverse("admin:accounts_teammember_add")).status_code == 302  # add = invite
    form = client.get(reverse("admin:accounts_teammember_invite"))
    assert b'name="email"' in form.content and b'name="user"' not in form.content


def test_owner_changes_roles_and_removes_members_but_never_the_last_owner(client, personas):
    client.force_login(personas.owner)
    agent = TeamMember.objects.get(user=personas.agent)
    url = reverse("admin:accounts_teammember_change", args=[agent.pk])
    assert client.post(url, {"role": "manager"}).status_code == 302
    agent.refresh_from_db()
    assert agent.role == "manager"
    event = AuditEvent.objects.get(action="team.role_changed")
    assert event.details["previous_role"] == "agent" and event.actor == personas.owner

    owner = TeamMember.objects.get(user=personas.owner)
    demote = client.post(reverse("admin:accounts_teammember_change", args=[owner.pk]), {"role": "agent"})
    assert demote.status_code == 200 and b"last owner" in demote.content
    delete_page = client.get(reverse("admin:accounts_teammember_delete", args=[owner.pk]))
    assert delete_page.status_code == 200 and b"last owner" in delete_page.content
    with pytest.raises(team.TeamError):
        team.member_remove(member=owner, actor=personas.owner)

    changelist = reverse("admin:accounts_teammember_changelist")
    analyst = TeamMember.objects.get(user=personas.analyst)
    response = client.post(
        changelist, {"action": "remove_selected", "_selected_action": [analyst.pk, owner.pk]}, follow=True
    )
    assert b"last owner" in response.content and b"Removed 1" in response.content
    assert not TeamMember.objects.filter(pk=analyst.pk).exists() and TeamMember.objects.filter(pk=owner.pk).exists()
    personas.analyst.refresh_from_db()
    assert not personas.analyst.is_staff  # on no team any more: no console
    assert AuditEvent.objects.filter(action="team.member_removed", talent=personas.talent).count() == 1

    # A second owner: now the first may step down.
    team.member_role_change(member=agent, role="owner", actor=personas.owner)
    team.member_role_change(member=owner, role="manager", actor=personas.owner)
    owner.refresh_from_db()
    assert owner.role == "manager"


def test_managers_cannot_change_the_team(client, personas):
    agent = TeamMember.objects.get(user=personas.agent)
    with pytest.raises(NotAllowed):
        team.member_role_change(member=agent, role="owner", actor=personas.manager)
    with pytest.raises(NotAllowed):
        team.member_remove(member=agent, actor=personas.other_manager)
    client.force_login(personas.manager)
    assert "remove_selected" not in client.get(reverse("admin:accounts_teammember_changelist")).content.decode()
    client.post(reverse("admin:accounts_teammember_change", args=[agent.pk]), {"role": "owner"})
    agent.refresh_from_db()
    assert agent.role == "agent"


def test_password_reset_by_email(client, personas):
    login = client.get(reverse("admin:login"))
    assert reverse("admin_password_reset").encode() in login.content  # the login page links to it
    response = client.post(reverse("admin_password_reset"), {"email": personas.agent.email}, HTTP_HOST="localhost")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https://fans\.example\.com(/admin/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "fresh-pass-phrase", "new_password2": "fresh-pass-phrase"}
    )
    assert done.status_code == 302
    personas.agent.refresh_from_db()
    assert personas.agent.check_password("fresh-pass-phrase")
    # Unknown addresses get the same answer and no mail.
    assert client.post(reverse("admin_password_reset"), {"email": "nobody@example.com"}).status_code == 302
    assert len(mail.outbox) == 1


def test_the_last_owner_opening_an_invite_is_not_demoted(client, personas):
    invite = team.invite_create(talent=personas.talent, email="z@example.com", role=Role.AGENT, actor=personas.owner)
    client.force_login(personas.owner)
    response = client.post(_path(team.invite_url(invite)), {"action": "accept"})
    assert response.status_code == 200 and b"last owner" in response.content
    assert TeamMember.objects.get(user=personas.owner).role == "owner"
    assert Invite.objects.get(pk=invite.pk).status == "pending"
