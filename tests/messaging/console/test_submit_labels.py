"""Change forms' buttons speak the team's language (issue 11 §1): "Create list", "Save draft", not "Save"."""

from __future__ import annotations

import re

from django.urls import reverse

from accounts.models import TeamMember
from messaging.models import Campaign, ContactList, Segment, Tag
from tests.messaging.campaign_fixtures import create_campaign

STOCK = ("Save and add another<", "Save and continue editing")


def _buttons(response) -> list[str]:
    """The words on the submit row's buttons and links (unfold renders Close as a link)."""
    row = response.content.decode().split('id="submit-row"', 1)[1].split('id="modal-overlay"', 1)[0]
    found = re.findall(r"<(button|a)\b[^>]*>(.*?)</\1>", row, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", inner).split()) for _tag, inner in found]


def _page(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    for stock in STOCK:
        assert stock not in response.content.decode(), (url, stock)
    return _buttons(response)


def test_audience_and_campaign_forms_name_what_they_save(client, personas):
    client.force_login(personas.manager)
    contact_list = ContactList.objects.create(talent=personas.talent, name="VIP")
    segment = Segment.objects.create(talent=personas.talent, name="Fans", definition={"all": []})
    campaign = create_campaign(personas.talent)

    add_list = _page(client, reverse("admin:messaging_contactlist_add"))
    assert "Create list" in add_list and "Save" not in add_list
    assert not any("add another" in b for b in add_list)  # one list at a time: no "Save and add another"
    assert _page(client, reverse("admin:messaging_contactlist_change", args=[contact_list.pk]))[:2] == [
        "Save list",
        "Save and keep editing",
    ]
    assert "Create segment" in _page(client, reverse("admin:messaging_segment_add"))
    assert "Save segment" in _page(client, reverse("admin:messaging_segment_change", args=[segment.pk]))
    assert "Create campaign" in _page(client, reverse("admin:messaging_campaign_add"))
    assert "Save draft" in _page(client, reverse("admin:messaging_campaign_change", args=[campaign.pk]))


def test_add_another_stays_where_it_makes_sense_and_named(client, personas):
    client.force_login(personas.manager)
    buttons = _page(client, reverse("admin:messaging_tag_add"))
    assert "Create tag" in buttons and "Save and add another tag" in buttons
    tag = Tag.objects.create(talent=personas.talent, name="vip")
    assert "Save tag" in _page(client, reverse("admin:messaging_tag_change", args=[tag.pk]))


def test_a_form_with_nothing_to_edit_offers_close_not_save(client, personas):
    client.force_login(personas.manager)
    sent = create_campaign(personas.talent, status=Campaign.Status.COMPLETED)
    buttons = _page(client, reverse("admin:messaging_campaign_change", args=[sent.pk]))
    assert "Close" in buttons and not any(b.startswith("Save") for b in buttons)


def test_team_and_settings_pages(client, personas):
    client.force_login(personas.owner)
    agent = TeamMember.objects.get(user=personas.agent)
    assert "Save role" in _page(client, reverse("admin:accounts_teammember_change", args=[agent.pk]))
    assert "Save settings" in _page(client, reverse("admin:accounts_talent_change", args=[personas.talent.pk]))
    assert "Publish this version" in _page(client, reverse("admin:consent_termsdocument_add"))
