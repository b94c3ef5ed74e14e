"""A team member sees only their own talents' rows in the console; other talents' URLs are 404."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import AuditEvent, TeamMember
from consent.models import ConsentRecord
from messaging.models import Campaign, ContactList, InboundMessage, OutboundMessage, Segment
from tests.factories import create_terms

pytestmark = pytest.mark.django_db


def _rows_of(talent, fan):
    """One row of every talent-scoped model for `talent`."""
    terms = create_terms(talent)
    consent = ConsentRecord.objects.create(
        fan=fan, talent=talent, purpose="messaging", action="granted", method="web_form", terms=terms
    )
    campaign = Campaign.objects.create(talent=talent, name=f"{talent.slug} tour", body="Hi")
    return {
        "talent": talent,
        "fan": fan,
        "teammember": TeamMember.objects.filter(talent=talent).first(),
        "termsdocument": terms,
        "consentrecord": consent,
        "campaign": campaign,
        "contactlist": ContactList.objects.create(talent=talent, name="VIP"),
        "segment": Segment.objects.create(talent=talent, name="West coast"),
        "outboundmessage": OutboundMessage.objects.create(talent=talent, fan=fan, to_number=str(fan.phone), body="x"),
        "inboundmessage": InboundMessage.objects.create(
            talent=talent,
            fan=fan,
            message_sid=f"SM{talent.pk:032d}",
            from_number=str(fan.phone),
            to_number=str(talent.sender_number),
            body="hello",
        ),
        "auditevent": AuditEvent.objects.create(talent=talent, action="test.row"),
    }


def test_every_scoped_model_is_registered():
    labels = {m._meta.label for m in admin.site._registry}
    for label in [
        "accounts.Talent",
        "accounts.Fan",
        "accounts.TeamMember",
        "accounts.AuditEvent",
        "consent.TermsDocument",
        "consent.ConsentRecord",
        "messaging.Campaign",
        "messaging.Segment",
        "messaging.ContactList",
        "messaging.OutboundMessage",
        "messaging.InboundMessage",
    ]:
        assert label in labels


def test_manager_never_sees_the_other_talents_rows(client, personas):
    mine = _rows_of(personas.talent, personas.fan)
    theirs = _rows_of(personas.other_talent, personas.other_fan)
    client.force_login(personas.manager)
    for name, obj in theirs.items():
        app = obj._meta.app_label
        changelist = client.get(reverse(f"admin:{app}_{name}_changelist"))
        assert changelist.status_code in (200, 403), name
        if changelist.status_code == 200:
            own = mine[name]
            assert own in changelist.context["cl"].result_list, name
            assert obj not in changelist.context["cl"].result_list, name
        for view in ("change", "history", "delete"):
            response = client.get(reverse(f"admin:{app}_{name}_{view}", args=[obj.pk]))
            assert response.status_code in (403, 404), (name, view, response.status_code)


def test_each_manager_sees_their_own(client, personas):
    theirs = _rows_of(personas.other_talent, personas.other_fan)
    client.force_login(personas.other_manager)
    response = client.get(reverse("admin:accounts_fan_change", args=[theirs["fan"].pk]))
    assert response.status_code == 200
    response = client.get(reverse("admin:accounts_fan_change", args=[personas.fan.pk]))
    assert response.status_code == 404


def test_superuser_sees_all(client, personas):
    client.force_login(personas.superuser)
    response = client.get(reverse("admin:accounts_fan_changelist"))
    fans = set(response.context["cl"].result_list)
    assert {personas.fan, personas.other_fan} <= fans


def test_outsider_without_membership_gets_no_console_rows(client, personas):
    client.force_login(personas.outsider)
    assert client.get(reverse("admin:accounts_fan_changelist")).status_code == 403
    assert client.get(reverse("admin:accounts_fan_change", args=[personas.fan.pk])).status_code in (403, 404)


def test_foreign_key_choices_are_limited_to_own_talents(client, personas):
    client.force_login(personas.manager)
    response = client.get(reverse("admin:messaging_contactlist_add"))
    choices = list(response.context["adminform"].form.fields["talent"].queryset)
    assert choices == [personas.talent]


def test_agent_may_read_fans_but_not_edit(client, personas):
    client.force_login(personas.agent)
    url = reverse("admin:accounts_fan_change", args=[personas.fan.pk])
    response = client.get(url)
    assert response.status_code == 200
    response = client.post(url, {"first_name": "Hacked"})
    assert response.status_code == 403
    personas.fan.refresh_from_db()
    assert personas.fan.first_name == "Fiona"


def test_add_forms_preselect_the_only_talent_of_a_team_member(client, personas):
    client.force_login(personas.manager)
    form = client.get(reverse("admin:messaging_contactlist_add")).context["adminform"].form
    assert form.initial["talent"] == personas.talent.pk
    client.force_login(personas.superuser)  # sees every talent: nothing is guessed
    form = client.get(reverse("admin:messaging_contactlist_add")).context["adminform"].form
    assert "talent" not in form.initial
