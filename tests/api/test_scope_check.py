"""v1's `require_scope` is the one permission check (accounts/actors.py `require`): a token is limited
by its scopes AND by its creator's role at this moment; a console session by the user's role. Each
refusal is a 403 whose code says which of the two was missing."""

from __future__ import annotations

import pytest

from accounts.models import TeamMember
from messaging.models import ContactList

pytestmark = pytest.mark.django_db


def _demote(personas, user, role):
    TeamMember.objects.filter(user=user, talent=personas.talent).update(role=role)
    user._fancommunity_roles = None  # the per-request role cache of accounts/permissions.py


def test_a_token_is_limited_by_its_scopes(personas, make_token):
    _, _, reader = make_token(["audience:read"])
    assert reader.get("/api/v1/lists/").status_code == 200
    refused = reader.post("/api/v1/lists/", {"name": "x"}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"code": "missing_scope", "message": "This token lacks the audience:write scope."}
    assert not ContactList.objects.filter(name="x").exists()


def test_a_token_is_limited_by_its_creators_role_now(personas, make_token):
    _, _, writer = make_token(["audience:read", "audience:write"])
    assert writer.post("/api/v1/lists/", {"name": "before"}, format="json").status_code == 201
    # The owner becomes an analyst (may view, may not edit the audience): the scope stays on the
    # token, the role no longer allows it, and the token loses it at once.
    _demote(personas, personas.owner, TeamMember.Role.ANALYST)
    refused = writer.post("/api/v1/lists/", {"name": "after"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert "creator" in refused.json()["message"]
    assert not ContactList.objects.filter(name="after").exists()
    assert writer.get("/api/v1/lists/").status_code == 200  # viewing is still in the analyst's role


def test_a_console_session_is_limited_by_the_users_role(personas, client):
    client.force_login(personas.analyst)  # Django's test client skips CSRF: the role alone decides
    assert client.get("/api/v1/lists/").status_code == 200
    refused = client.post("/api/v1/lists/", {"name": "analyst list"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json() == {"code": "permission_denied", "message": "Your role may not do this (audience:write)."}
    assert not ContactList.objects.filter(name="analyst list").exists()
    client.force_login(personas.manager)
    assert client.post("/api/v1/lists/", {"name": "team list"}, content_type="application/json").status_code == 201
