"""seed_demo and generate_fans: realistic, idempotent, fast paths on both databases."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts.models import Fan, Talent, TeamMember
from consent.models import ConsentRecord, TermsDocument
from tests.factories import create_talent

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_demo_talent_once():
    call_command("seed_demo")
    call_command("seed_demo")  # idempotent: a second run adds nothing
    talent = Talent.objects.get(slug="demo")
    assert str(talent.sender_number) == "+15005550006"
    assert talent.parts_per_second == 100
    assert talent.program_name and talent.help_text and talent.welcome_text
    assert TermsDocument.objects.filter(talent=talent, published_at__isnull=False).count() == 2
    fans = Fan.objects.filter(talent=talent)
    assert fans.count() == 2000
    assert fans.filter(status=Fan.Status.ACTIVE).count() > 1500
    assert fans.values("country").distinct().count() >= 5
    assert fans.values("time_zone").distinct().count() >= 5
    owner = authenticate(username="owner", password="fancommunity-demo")
    assert owner is not None and owner.is_staff
    assert TeamMember.objects.get(user=owner, talent=talent).role == TeamMember.Role.OWNER
    # The inbox has fans waiting for an answer (issue 13's conversations, not bare texts).
    from messaging.conversations.models import Conversation

    assert Conversation.objects.filter(talent=talent, waiting_since__isnull=False).count() == 5
    # Every non-pending synthetic fan has (labelled) consent evidence.
    assert (
        ConsentRecord.objects.filter(talent=talent, purpose="messaging", action="granted").count()
        == fans.exclude(status=Fan.Status.PENDING).count()
    )


def test_generate_fans_adds_new_unique_people_on_each_run():
    talent = create_talent("gen")
    call_command("generate_fans", talent="gen", count=300)
    call_command("generate_fans", talent="gen", count=200)
    fans = Fan.objects.filter(talent=talent)
    assert fans.count() == 500
    assert fans.values("phone").distinct().count() == 500
    sample = fans.first()
    assert str(sample.phone).startswith("+") and sample.first_name and sample.time_zone and sample.country


def test_generate_fans_refuses_bad_input():
    with pytest.raises(CommandError, match="no talent"):
        call_command("generate_fans", talent="nobody", count=10)
    create_talent("gen2")
    with pytest.raises(CommandError, match="--count"):
        call_command("generate_fans", talent="gen2", count=0)


def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["ok"] is True
