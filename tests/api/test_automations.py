"""v1 keywords and drops: the console's rules through the API (platform words refused, one word per
keyword, something to do), drops through the drop services (release campaign created, paused with
the drop), counts without codes, scopes, and another talent's ids reading as unknown."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from messaging.automations.drop_models import Drop, DropCode, DropEntry
from messaging.automations.keyword_models import Keyword
from messaging.models import Campaign, ContactList, Tag

pytestmark = pytest.mark.django_db


def _soon(minutes: int = 30) -> str:
    return (timezone.now() + dt.timedelta(minutes=minutes)).isoformat()


DROP = {
    "name": "Presale",
    "confirmation": "You're in. Your code: {code}",
    "release_text": "The presale is open now!",
    "made_it": "You made it: {code}",
}


def test_keyword_create_update_pause_with_the_consoles_rules(personas, api):
    tag = Tag.objects.create(talent=personas.talent, name="tour")
    fans = ContactList.objects.create(talent=personas.talent, name="Tour fans")
    body = {
        "word": "  Tour ",
        "aliases": "tours, GIRA, tour",
        "reply": "Dates soon!",
        "tags": [tag.pk],
        "add_to_list": fans.pk,
    }
    made = api.post("/api/v1/keywords/", body, format="json", HTTP_IDEMPOTENCY_KEY="kw-1")
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["word"], data["aliases"], data["tags"], data["state"]) == ("tour", "tours, gira", [tag.pk], "live")
    assert api.post("/api/v1/keywords/", body, format="json", HTTP_IDEMPOTENCY_KEY="kw-1")["Idempotent-Replayed"]
    keyword = Keyword.objects.get(talent=personas.talent)
    assert keyword.add_to_list == fans and AuditEvent.objects.filter(action="automation.keyword_created").count() == 1
    # Another keyword's word or alias, a platform word, nothing to do: each a 400 naming the field.
    taken = api.post("/api/v1/keywords/", {"word": "gira", "reply": "x"}, format="json")
    assert taken.status_code == 400 and "already used" in str(taken.json()["errors"]["word"])
    for word in ("STOP", "help", "start"):
        reserved = api.post("/api/v1/keywords/", {"word": word, "reply": "x"}, format="json")
        assert reserved.status_code == 400 and "platform" in str(reserved.json()["errors"]["word"]), word
    alias = api.post("/api/v1/keywords/", {"word": "vip", "aliases": "unsubscribe", "reply": "x"}, format="json")
    assert alias.status_code == 400 and "aliases" in alias.json()["errors"]
    commas = ",".join(f"{n:02d}" for n in range(100))  # 299 characters typed, 398 once stored as "00, 01, ..."
    too_long = api.post("/api/v1/keywords/", {"word": "many", "aliases": commas, "reply": "x"}, format="json")
    assert too_long.status_code == 400 and "aliases" in too_long.json()["errors"]
    idle = api.post("/api/v1/keywords/", {"word": "idle"}, format="json")
    assert idle.status_code == 400 and "something to do" in idle.json()["message"]
    later = {"word": "later", "reply": "x", "starts_at": _soon(60), "ends_at": _soon(10)}
    assert "ends_at" in api.post("/api/v1/keywords/", later, format="json").json()["errors"]
    assert api.post("/api/v1/keywords/", {"word": "cap", "reply": "x", "capacity": 0}, format="json").status_code == 400
    # PATCH keeps the rules on what it leaves: clearing the only action is refused.
    url = f"/api/v1/keywords/{keyword.pk}/"
    assert api.patch(url, {"reply": "", "tags": [], "add_to_list": None}, format="json").status_code == 400
    changed = api.patch(url, {"reply": "New dates Friday", "capacity": 100}, format="json")
    assert changed.status_code == 200 and changed.json()["capacity"] == 100 and changed.json()["word"] == "tour"
    paused = api.post(f"/api/v1/keywords/{keyword.pk}/pause/")
    assert paused.json()["is_paused"] is True and paused.json()["state"] == "paused"
    assert api.post(f"/api/v1/keywords/{keyword.pk}/resume/").json()["state"] == "live"
    assert Keyword.objects.get(pk=keyword.pk).is_paused is False
    assert [k["word"] for k in api.get("/api/v1/keywords/").json()["results"]] == ["tour"]


def test_keyword_links_only_this_talents_lists_tags_and_drops(personas, api):
    theirs = {
        "add_to_list": ContactList.objects.create(talent=personas.other_talent, name="theirs").pk,
        "tags": [Tag.objects.create(talent=personas.other_talent, name="theirs").pk],
    }
    for field, value in theirs.items():
        refused = api.post("/api/v1/keywords/", {"word": "steal", "reply": "x", field: value}, format="json")
        assert refused.status_code == 400 and field in refused.json()["errors"], field
    assert not Keyword.objects.exists()


def test_drop_create_makes_its_release_campaign_and_pauses_with_it(personas, api):
    made = api.post("/api/v1/drops/", DROP | {"release_at": _soon()}, format="json", HTTP_IDEMPOTENCY_KEY="d-1")
    assert made.status_code == 201, made.content
    again = api.post("/api/v1/drops/", DROP | {"release_at": made.json()["release_at"]}, format="json")
    assert again.status_code == 201  # no key: a second drop (the same name is allowed, as in the console)
    drop = Drop.objects.get(pk=made.json()["id"])
    campaign = Campaign.objects.get(pk=made.json()["campaign"])
    assert campaign.status == Campaign.Status.SCHEDULED and list(campaign.include_lists.all()) == [drop.entrants_list]
    assert made.json()["release_status"] == "scheduled" and made.json()["entrants_list"] == drop.entrants_list_id
    paused = api.post(f"/api/v1/drops/{drop.pk}/pause/")
    assert paused.status_code == 200 and paused.json()["is_paused"] is True
    assert paused.json()["release_status"] == "paused"
    assert api.post(f"/api/v1/drops/{drop.pk}/resume/").json()["release_status"] == "scheduled"
    changed = api.patch(f"/api/v1/drops/{drop.pk}/", {"release_text": "Open now, go!"}, format="json")
    assert changed.status_code == 200
    assert Campaign.objects.get(pk=campaign.pk).body == "Open now, go!"  # the release follows the edit


def test_drop_refusals_are_400s(personas, api):
    past = api.post("/api/v1/drops/", DROP | {"release_at": "2020-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and "release_at" in past.json()["errors"]
    code = api.post("/api/v1/drops/", DROP | {"release_at": _soon(), "release_text": "{code}"}, format="json")
    assert code.status_code == 400 and "release_text" in code.json()["errors"]
    waitlist = api.post("/api/v1/drops/", DROP | {"release_at": _soon(), "waitlist": True}, format="json")
    assert waitlist.status_code == 400 and "waitlist" in waitlist.json()["errors"]
    assert not Drop.objects.exists() and not Campaign.objects.exists()


def test_drop_counts_entrants_and_codes_but_never_shows_a_code(personas, api):
    drop = Drop.objects.get(pk=api.post("/api/v1/drops/", DROP | {"release_at": _soon()}, format="json").json()["id"])
    DropEntry.objects.create(drop=drop, fan=personas.fan, status=DropEntry.Status.ENTERED)
    DropCode.objects.create(drop=drop, code="SECRET-1", fan=personas.fan, assigned_at=timezone.now())
    DropCode.objects.create(drop=drop, code="SECRET-2")
    for response in (api.get(f"/api/v1/drops/{drop.pk}/"), api.get("/api/v1/drops/")):
        assert response.status_code == 200 and "SECRET" not in response.content.decode()
    body = api.get(f"/api/v1/drops/{drop.pk}/").json()
    assert (body["entrants"], body["waitlisted"], body["codes_total"], body["codes_given"]) == (1, 0, 2, 1)


def test_automations_need_the_campaign_scopes_and_the_compose_role(personas, make_token, client):
    keyword = Keyword.objects.create(talent=personas.talent, word="tour", reply="x")
    _, _, reader = make_token(["campaigns:read"])
    assert reader.get("/api/v1/keywords/").status_code == 200
    assert reader.get("/api/v1/drops/").status_code == 200
    for path, data in (("keywords/", {"word": "vip", "reply": "x"}), (f"keywords/{keyword.pk}/pause/", None),
                       ("drops/", DROP | {"release_at": _soon()})):  # fmt: skip
        refused = reader.post(f"/api/v1/{path}", data, format="json")
        assert refused.status_code == 403 and refused.json()["code"] == "missing_scope", path
    _, _, fans_only = make_token(["fans:read"])
    assert fans_only.get("/api/v1/keywords/").status_code == 403
    client.force_login(personas.agent)  # answers fans; does not compose
    assert client.get("/api/v1/keywords/").status_code == 200
    assert client.post(f"/api/v1/keywords/{keyword.pk}/pause/").status_code == 403
    assert Keyword.objects.get(pk=keyword.pk).is_paused is False and not Drop.objects.exists()
