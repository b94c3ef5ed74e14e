"""v1 auth: tokens (hash, prefix, expiry, revocation, last use), scopes, one talent, errors, limits."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import ApiToken, TokenError, token_authenticate, token_create, token_revoke
from accounts.models import TeamMember
from accounts.outbox import WebhookEndpoint, new_secret
from consent.models import ConsentRecord
from messaging.automations.drop_models import Drop
from messaging.automations.drops import drop_save
from messaging.automations.keyword_models import Keyword
from messaging.conversations.models import Conversation
from messaging.models import Campaign, ContactList, OutboundMessage, Segment, Tag
from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db


def test_token_is_prefixed_shown_once_and_stored_as_sha256(personas, make_token):
    token, raw, _ = make_token(["fans:read"])
    assert raw.startswith("fc_live_") and len(raw) > 40
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.filter(pk=token.pk).values().first())
    assert token_authenticate(raw) == token


def test_only_owners_create_tokens(personas):
    with pytest.raises(TokenError):
        token_create(talent=personas.talent, actor=personas.manager, name="x", scopes=["fans:read"], expires_at=None)
    with pytest.raises(TokenError):  # an owner of Nova is nobody at the rival
        token_create(
            talent=personas.other_talent, actor=personas.owner, name="x", scopes=["fans:read"], expires_at=None
        )
    with pytest.raises(TokenError):
        token_create(talent=personas.talent, actor=personas.owner, name="x", scopes=["root"], expires_at=None)


def test_unknown_expired_revoked_tokens_answer_401_with_a_code(personas, make_token):
    assert bearer("fc_live_nope").get("/api/v1/fans/").json()["code"] == "authentication_failed"
    token, raw, client = make_token(["fans:read"])
    assert client.get("/api/v1/fans/").status_code == 200
    token_revoke(token=token, actor=personas.owner)
    revoked = client.get("/api/v1/fans/")
    assert revoked.status_code == 401 and revoked.json()["message"]
    assert "Bearer" in revoked["WWW-Authenticate"]
    old, _, old_client = make_token(["fans:read"], expires_at=timezone.now() + dt.timedelta(seconds=1))
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert old_client.get("/api/v1/fans/").status_code == 401


def test_no_credentials_and_basic_auth_are_refused(personas):
    anonymous = APIClient().get("/api/v1/fans/")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(b"olivia_owner:pw").decode())
    assert basic.get("/api/v1/fans/").status_code == 401  # v1 takes no passwords


def test_last_used_is_written_at_most_once_a_minute(personas, make_token, django_assert_num_queries):
    token, raw, client = make_token(["fans:read"])
    client.get("/api/v1/talents/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get("/api/v1/talents/")
    token.refresh_from_db()
    assert token.last_used_at == first  # no second write within the minute
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    client.get("/api/v1/talents/")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_a_token_dies_with_its_creators_membership(personas, make_token):
    _, _, client = make_token(["fans:read"])
    TeamMember.objects.filter(user=personas.owner, talent=personas.talent).delete()
    assert client.get("/api/v1/fans/").status_code == 401


def test_scope_is_needed_and_the_creators_role_still_counts(personas, make_token):
    _, _, reader = make_token(["audience:read"])
    denied = reader.get("/api/v1/fans/")
    assert denied.status_code == 403 and denied.json()["code"] == "missing_scope"
    assert reader.get("/api/v1/lists/").status_code == 200
    assert reader.post("/api/v1/lists/", {"name": "x"}, format="json").json()["code"] == "missing_scope"
    # An analyst-owner? Demote the creator: the scope stays on the token, the role no longer allows it.
    _, _, writer = make_token(["audience:write", "audience:read"])
    TeamMember.objects.filter(user=personas.owner, talent=personas.talent).update(role=TeamMember.Role.AGENT)
    personas.owner._fancommunity_roles = None
    response = writer.post("/api/v1/lists/", {"name": "y"}, format="json")
    assert response.status_code in (401, 403)
    assert not ContactList.objects.filter(name="y").exists()


def test_exports_need_their_own_scope(personas, make_token):
    segment = Segment.objects.get(talent=personas.talent, is_builtin=True)
    _, _, reader = make_token(["audience:read"])
    assert reader.get(f"/api/v1/segments/{segment.pk}/export/").json()["code"] == "missing_scope"
    _, _, exporter = make_token(["audience:read", "exports"])
    response = exporter.get(f"/api/v1/segments/{segment.pk}/export/")
    assert response.status_code == 200 and b"Fiona" in b"".join(response.streaming_content)


def _rival_objects(personas):
    """One object of every kind, all belonging to the rival talent."""
    other = personas.other_talent
    campaign = Campaign.objects.create(talent=other, name="rival", body="hi")
    message = OutboundMessage.objects.create(talent=other, fan=personas.other_fan, to_number="+14155550102", body="x")
    consent = ConsentRecord.objects.create(
        fan=personas.other_fan, talent=other, purpose="messaging", action="granted", method="console"
    )
    return {
        "talents": other.pk,
        "fans": personas.other_fan.pk,
        "lists": ContactList.objects.create(talent=other, name="rival list").pk,
        "tags": Tag.objects.create(talent=other, name="rival tag").pk,
        "segments": Segment.objects.get(talent=other, is_builtin=True).pk,
        "campaigns": campaign.pk,
        "messages": message.pk,
        "consent-records": consent.pk,
        "conversations": Conversation.objects.create(talent=other, fan=personas.other_fan).pk,
        "webhook-endpoints": WebhookEndpoint.objects.create(
            talent=other, url="https://93.184.215.14/x", events=["fan.joined"], secret=new_secret()
        ).pk,
        "keywords": Keyword.objects.create(talent=other, word="rival", reply="x").pk,
        "drops": drop_save(
            drop=Drop(talent=other, name="rival", confirmation="x", release_text="x", made_it="x",
                      release_at=timezone.now() + dt.timedelta(hours=1)),
            actor=personas.other_manager,
        ).pk,
    }  # fmt: skip


DETAIL_CALLS = [
    ("get", "{r}/{id}/", None),
    ("patch", "{r}/{id}/", {"name": "mine now", "city": "x"}),
    ("delete", "{r}/{id}/", None),
]
ACTIONS = {
    "fans": [("post", "opt-out/", {}), ("post", "erase/", {"reason": "x"})],
    "lists": [("get", "members/", None), ("get", "export/", None), ("post", "add-fans/", {"fan_ids": [1]}),
              ("post", "remove-fans/", {"fan_ids": [1]})],
    "tags": [("get", "members/", None), ("post", "add-fans/", {"fan_ids": [1]})],
    "segments": [("get", "count/", None), ("get", "members/", None), ("get", "export/", None)],
    "campaigns": [("get", "preview/", None), ("get", "report/", None), ("post", "schedule/", None),
                  ("post", "pause/", {}), ("post", "resume/", None), ("post", "cancel/", None),
                  ("post", "approve/", None)],
    "conversations": [("post", "reply/", {"body": "hi"}), ("post", "assign/", {"assignee": None}),
                      ("post", "done/", None), ("get", "notes/", None), ("post", "notes/", {"body": "x"}),
                      ("post", "snooze/", {"until": "2099-01-01T00:00:00Z"}), ("post", "unsnooze/", None)],
    "keywords": [("post", "pause/", None), ("post", "resume/", None)],
    "drops": [("post", "pause/", None), ("post", "resume/", None)],
    "webhook-endpoints": [("post", "rotate-secret/", None), ("post", "ping/", None)],
}  # fmt: skip


def test_another_talents_objects_answer_404_on_every_endpoint(personas, api):
    """Nova's all-scopes token against each of the rival's objects: 404 (or 405 where the verb does
    not exist), exactly like an id that does not exist, and nothing changes."""
    objects = _rival_objects(personas)
    missing = 999_999
    for resource, pk in objects.items():
        calls = [(m, p, d) for m, p, d in DETAIL_CALLS] + [
            (m, "{r}/{id}/" + p, d) for m, p, d in ACTIONS.get(resource, [])
        ]
        for method, pattern, data in calls:
            theirs = getattr(api, method)("/api/v1/" + pattern.format(r=resource, id=pk), data, format="json")
            nobody = getattr(api, method)("/api/v1/" + pattern.format(r=resource, id=missing), data, format="json")
            assert theirs.status_code == nobody.status_code, (resource, method, pattern, theirs.content)
            assert theirs.status_code in (404, 405), (resource, method, pattern, theirs.content)
            if theirs.status_code == 404:
                assert theirs.json() == nobody.json()
    personas.other_fan.refresh_from_db()
    assert personas.other_fan.status == "active" and personas.other_fan.city != "x"
    assert ContactList.objects.filter(talent=personas.other_talent, name="rival list").exists()
    assert (
        not Keyword.objects.get(pk=objects["keywords"]).is_paused
        and not Drop.objects.get(pk=objects["drops"]).is_paused
    )
    # Lists never include the rival's rows either.
    for resource in objects:
        rows = api.get(f"/api/v1/{resource}/").json()["results"]
        assert objects[resource] not in [r["id"] for r in rows], resource


def test_campaign_ids_of_another_talent_cannot_be_attached(personas, api):
    rival_list = ContactList.objects.create(talent=personas.other_talent, name="theirs")
    response = api.post(
        "/api/v1/campaigns/", {"name": "x", "body": "hi", "include_lists": [rival_list.pk]}, format="json"
    )
    assert response.status_code == 400 and "include_lists" in response.json()["errors"]


def test_console_session_follows_the_current_talent(personas, client):
    from accounts.models import TeamMember as TM

    TM.objects.create(user=personas.manager, talent=personas.other_talent, role=TM.Role.MANAGER)
    client.force_login(personas.manager)
    mine = client.get("/api/v1/fans/").json()["results"]
    switch = client.post(reverse("admin:talent_switch"), {"talent": personas.other_talent.pk})
    assert switch.status_code in (200, 302)
    theirs = client.get("/api/v1/fans/").json()["results"]
    assert [f["id"] for f in mine] == [personas.fan.pk]
    assert [f["id"] for f in theirs] == [personas.other_fan.pk]


def test_session_role_decides_what_a_console_user_may_do(personas, client):
    client.force_login(personas.agent)
    assert client.get("/api/v1/fans/").status_code == 200
    denied = client.post("/api/v1/lists/", {"name": "agent list"}, content_type="application/json")
    assert denied.status_code == 403  # CSRF first (no token), then the role: either way refused
    assert not ContactList.objects.filter(name="agent list").exists()


@override_settings(API_V1_RATE=(3, 60))
def test_throttle_per_token_with_ratelimit_headers_and_retry_after(personas, make_token):
    _, _, one = make_token(["fans:read"])
    _, _, two = make_token(["fans:read"])
    answers = [one.get("/api/v1/talents/") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0]["RateLimit-Limit"] == "3" and answers[0]["RateLimit-Remaining"] == "2"
    assert answers[3].json()["code"] == "rate_limited" and int(answers[3]["Retry-After"]) >= 1
    assert two.get("/api/v1/talents/").status_code == 200  # another token has its own window


def test_errors_are_json_with_code_and_message(personas, api):
    response = api.get("/api/v1/fans/999999/")
    assert response.status_code == 404 and response.json() == {"code": "not_found", "message": "Not found."}
    bad_json = api.generic("POST", "/api/v1/lists/", "{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "malformed_request"
