"""The one permission check: require(actor, capability, talent) for a member, an API token, the system."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.actors import SYSTEM, Actor, NotAllowed, allows, as_actor, require
from accounts.api_tokens import token_create
from accounts.models import TeamMember


def _token(personas, scopes, *, owner=None, talent=None):
    token, _raw = token_create(
        talent=talent or personas.talent, actor=owner or personas.owner, name="t", scopes=scopes, expires_at=None
    )
    return token


def test_a_member_needs_the_capability_in_that_talent(personas):
    require(personas.manager, "edit_audience", personas.talent)
    require(personas.analyst, "export", personas.talent)
    with pytest.raises(NotAllowed, match="You may not export for Nova Ray"):
        require(personas.manager, "export", personas.talent)
    with pytest.raises(NotAllowed):
        require(personas.agent, "edit_audience", personas.talent)
    assert allows(Actor.member(personas.agent), "reply", personas.talent.pk)


def test_another_talents_member_and_an_outsider_are_refused(personas):
    with pytest.raises(NotAllowed):
        require(personas.other_manager, "edit_audience", personas.talent)
    with pytest.raises(NotAllowed):
        require(personas.outsider, "view", personas.talent)
    require(personas.other_manager, "edit_audience", personas.other_talent)


def test_superuser_rules_as_before(personas):
    require(personas.superuser, "manage_team", personas.talent)
    require(personas.superuser, "export", personas.other_talent.pk)
    assert allows(personas.superuser, "edit_talent", None)  # "for any talent"
    personas.superuser.is_active = False
    assert not allows(personas.superuser, "view", personas.talent)  # an inactive superuser is nobody


def test_a_token_needs_a_scope_and_its_creators_role(personas):
    token = _token(personas, ["fans:read", "audience:write"])
    actor = as_actor(token)
    assert actor.kind == "token" and actor.user == personas.owner
    require(token, "fans:read", personas.talent)  # by scope
    require(token, "edit_audience", personas.talent)  # by capability: audience:write needs it
    require(token, "view", personas.talent)
    with pytest.raises(NotAllowed):
        require(token, "fans:write", personas.talent)  # a scope it was not given
    with pytest.raises(NotAllowed):
        require(token, "export", personas.talent)  # its owner may export, the token may not
    # The creator loses the role: the token loses it the same instant.
    TeamMember.objects.filter(user=personas.owner, talent=personas.talent).update(role=TeamMember.Role.AGENT)
    personas.owner._fancommunity_roles = None
    fresh = type(token).objects.select_related("created_by").get(pk=token.pk)
    with pytest.raises(NotAllowed):
        require(fresh, "audience:write", personas.talent)
    require(fresh, "fans:read", personas.talent)  # an agent still views


def test_a_token_acts_for_its_one_talent_and_only_while_usable(personas):
    token = _token(personas, ["fans:read"], owner=personas.superuser)
    with pytest.raises(NotAllowed):
        require(token, "fans:read", personas.other_talent)  # even a superuser's token
    token.revoked_at = timezone.now()
    with pytest.raises(NotAllowed):
        require(token, "fans:read", personas.talent)
    token.revoked_at = None
    token.expires_at = timezone.now() - dt.timedelta(seconds=1)
    assert not allows(token, "fans:read", personas.talent)


def test_the_system_may_act_and_none_means_the_system(personas):
    require(SYSTEM, "manage_team", personas.talent)
    require(None, "export", personas.other_talent)  # services' actor=None: commands and tasks
    assert as_actor(None) is SYSTEM and str(SYSTEM) == "the system"


def test_one_error_type_that_pages_and_old_callers_both_understand(personas):
    with pytest.raises(NotAllowed) as caught:
        require(personas.agent, "manage_team", personas.talent, refusal="Only owners.")
    assert str(caught.value) == "Only owners."
    assert isinstance(caught.value, PermissionDenied)  # the admin and DRF answer 403
    assert isinstance(caught.value, PermissionError)  # what the audience services raised before


def test_a_typo_in_a_capability_is_an_error_not_a_refusal(personas):
    for actor in (personas.manager, SYSTEM, personas.superuser):
        with pytest.raises(ValueError, match="unknown capability"):
            allows(actor, "edit_audiences", personas.talent)
