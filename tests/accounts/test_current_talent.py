"""One talent at a time: the header's switcher, and every console page, form and API list following it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.current_talent import SESSION_KEY
from accounts.models import TeamMember
from messaging.models import ContactList, Segment
from tests.factories import create_fan, create_member, create_talent

pytestmark = pytest.mark.django_db

FANS = "admin:accounts_fan_changelist"


@pytest.fixture
def two_hats(personas):
    """A manager of both talents (Nova Ray and Rival Act)."""
    member = create_member(personas.talent, TeamMember.Role.MANAGER, "tess_two_hats")
    TeamMember.objects.create(user=member.user, talent=personas.other_talent, role=TeamMember.Role.MANAGER)
    return member.user


def _switch(client, talent, next_url=""):
    value = talent if isinstance(talent, str) else talent.pk
    return client.post(reverse("admin:talent_switch"), {"talent": value, "next": next_url})


def _fans(client):
    response = client.get(reverse(FANS))
    assert response.status_code == 200
    return set(response.context["cl"].result_list)


def test_member_of_two_talents_switches_and_sees_each_ones_fans_only(client, personas, two_hats):
    client.force_login(two_hats)
    # Before any choice: the first talent by name, never a mixed list.
    assert _fans(client) == {personas.fan}

    response = _switch(client, personas.other_talent, reverse(FANS))
    assert response.status_code == 302 and response["Location"] == reverse(FANS)
    assert _fans(client) == {personas.other_fan}
    assert client.session[SESSION_KEY] == personas.other_talent.pk

    _switch(client, personas.talent)
    assert _fans(client) == {personas.fan}


def test_the_other_talents_rows_answer_404_after_a_switch(client, personas, two_hats):
    client.force_login(two_hats)
    _switch(client, personas.talent)
    url = reverse("admin:accounts_fan_change", args=[personas.other_fan.pk])
    assert client.get(url).status_code == 404
    _switch(client, personas.other_talent)
    assert client.get(url).status_code == 200


def test_a_forged_switch_to_a_talent_one_is_no_member_of_is_refused(client, personas):
    client.force_login(personas.manager)
    response = _switch(client, personas.other_talent)
    assert response.status_code == 302
    assert SESSION_KEY not in client.session
    followed = client.get(response["Location"])
    assert "Not switched" in followed.content.decode()
    assert _fans(client) == {personas.fan}
    # "all" is for operators only; a junk value changes nothing either.
    for value in ("all", "nonsense", "999999"):
        _switch(client, value)
        assert SESSION_KEY not in client.session
        assert _fans(client) == {personas.fan}


def test_a_switch_only_by_post(client, personas, two_hats):
    client.force_login(two_hats)
    response = client.get(reverse("admin:talent_switch") + f"?talent={personas.other_talent.pk}")
    assert response.status_code == 405
    assert SESSION_KEY not in client.session


def test_a_membership_removed_mid_session_stops_counting(client, personas, two_hats):
    client.force_login(two_hats)
    _switch(client, personas.other_talent)
    TeamMember.objects.filter(user=two_hats, talent=personas.other_talent).delete()
    assert _fans(client) == {personas.fan}


def test_superuser_sees_all_then_switches_to_any_talent(client, personas):
    third = create_talent("third", display_name="Third Wave")
    third_fan = create_fan(third, "+14155550103")
    client.force_login(personas.superuser)
    assert _fans(client) == {personas.fan, personas.other_fan, third_fan}
    _switch(client, third)
    assert _fans(client) == {third_fan}
    _switch(client, "all")
    assert _fans(client) == {personas.fan, personas.other_fan, third_fan}


def test_header_shows_the_current_talent_and_the_switcher(client, personas, two_hats):
    client.force_login(two_hats)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'class="fc-talent fc-talent-header"' in html
    assert reverse("admin:talent_switch") in html
    assert f'<option value="{personas.other_talent.pk}">Rival Act</option>' in html
    assert f'<option value="{personas.talent.pk}" selected>Nova Ray</option>' in html

    client.force_login(personas.manager)  # one talent: its name, no switcher
    html = client.get(reverse("admin:index")).content.decode()
    assert '<span class="fc-talent-name">Nova Ray</span>' in html
    assert 'name="talent"' not in html


def test_home_page_cards_follow_the_current_talent(client, personas, two_hats):
    client.force_login(two_hats)
    _switch(client, personas.other_talent)
    html = client.get(reverse("admin:index")).content.decode()
    assert "Rival Act at a glance" in html  # the home page is the current talent's (issue 12)
    assert "Nova Ray at a glance" not in html


def test_forms_have_no_talent_dropdown_and_save_into_the_current_talent(client, personas, two_hats):
    client.force_login(two_hats)
    _switch(client, personas.other_talent)
    html = client.get(reverse("admin:messaging_contactlist_add")).content.decode()
    form = html.split('id="contactlist_form"', 1)[1].split("</form>", 1)[0]
    assert 'name="talent"' not in form and 'for="id_talent"' not in form  # no dropdown, no empty row

    # A forged talent in the POST is ignored: the field is disabled, the row lands in the current talent.
    response = client.post(
        reverse("admin:messaging_contactlist_add"), {"name": "Street team", "talent": personas.talent.pk}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ContactList.objects.get(name="Street team").talent == personas.other_talent


def test_segment_builder_saves_into_the_current_talent(client, personas, two_hats):
    client.force_login(two_hats)
    _switch(client, personas.other_talent)
    response = client.post(
        reverse("admin:messaging_segment_add"),
        {"name": "Gus fans", "description": "", "match": "all", "cond_0_field": "city", "cond_0_value": "Reno"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    segment = Segment.objects.get(name="Gus fans")
    assert segment.talent == personas.other_talent


def test_talent_column_leaves_lists_of_one_talent(client, personas):
    client.force_login(personas.manager)
    response = client.get(reverse(FANS))
    assert "talent" not in response.context["cl"].list_display


def test_superuser_looking_at_all_talents_keeps_the_talent_dropdown(client, personas):
    client.force_login(personas.superuser)
    html = client.get(reverse("admin:messaging_contactlist_add")).content.decode()
    assert 'name="talent"' in html and 'type="hidden" name="talent"' not in html


def test_role_follows_the_current_talent(client, personas):
    """Agent of one talent, owner of the other: the menu and the add buttons follow the current role."""
    member = create_member(personas.talent, TeamMember.Role.AGENT, "aggie_two_roles")
    TeamMember.objects.create(user=member.user, talent=personas.other_talent, role=TeamMember.Role.OWNER)
    client.force_login(member.user)
    _switch(client, personas.talent)
    assert client.get(reverse("admin:messaging_campaign_add")).status_code == 403
    _switch(client, personas.other_talent)
    assert client.get(reverse("admin:messaging_campaign_add")).status_code == 200


def test_session_api_follows_the_current_talent_basic_auth_does_not(client, personas, two_hats):
    ContactList.objects.create(talent=personas.talent, name="Nova list")
    ContactList.objects.create(talent=personas.other_talent, name="Rival list")
    client.force_login(two_hats)
    _switch(client, personas.other_talent)
    names = {row["name"] for row in client.get("/api/contact-lists/").json()["results"]}
    assert names == {"Rival list"}

    two_hats.set_password("pw-two-hats")
    two_hats.save()
    client.logout()
    import base64

    auth = "Basic " + base64.b64encode(f"{two_hats.username}:pw-two-hats".encode()).decode()
    names = {row["name"] for row in client.get("/api/contact-lists/", HTTP_AUTHORIZATION=auth).json()["results"]}
    assert names == {"Nova list", "Rival list"}


def test_a_pinned_talent_still_gets_unique_checks(client, personas, two_hats):
    """The talent row is off the page but in the form: (talent, name) uniqueness is a form error, not a 500."""
    ContactList.objects.create(talent=personas.other_talent, name="VIP")
    client.force_login(two_hats)
    _switch(client, personas.other_talent)
    response = client.post(reverse("admin:messaging_contactlist_add"), {"name": "VIP"})
    assert response.status_code == 200
    assert ContactList.objects.filter(talent=personas.other_talent, name="VIP").count() == 1
    assert "already exists" in response.content.decode()


def test_the_header_shows_the_talents_own_colour(client, personas):
    """A talent's brand colour (issue 11) colours the header; an invalid one is a form error."""
    from django.core.exceptions import ValidationError

    client.force_login(personas.manager)
    personas.talent.brand_color = "#ff5500"
    personas.talent.full_clean()
    personas.talent.save(update_fields=["brand_color"])
    html = client.get(reverse("admin:index")).content.decode()
    assert "--fc-talent-color: #ff5500" in html
    personas.talent.brand_color = "orange"
    with pytest.raises(ValidationError) as refused:
        personas.talent.full_clean()
    assert "brand_color" in refused.value.message_dict
