"""Segments: rules validated on save (errors name the rule), compiled to one query, live, built-in `all`."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Fan
from messaging.audience.models import validate_definition
from messaging.audience.rules import SegmentRuleError
from messaging.audience.services import segment_queryset
from messaging.models import ContactList, ContactListMember, FanTag, Segment, Tag
from tests.factories import create_talent

pytestmark = pytest.mark.django_db


def _match(personas, definition) -> set[str]:
    seg = Segment.objects.create(talent=personas.talent, name="s", definition=definition)
    try:
        return {str(f.phone) for f in segment_queryset(seg)}
    finally:
        seg.delete()


def _phones(crowd, *names) -> set[str]:
    return {str(crowd[n].phone) for n in names}


@pytest.mark.parametrize(
    "condition, expected",
    [
        ({"field": "country", "op": "in", "value": ["ca"]}, ["toronto"]),
        ({"field": "region", "op": "in", "value": ["CA"]}, ["sf", "la"]),
        ({"field": "city", "op": "in", "value": ["San Francisco"]}, ["sf", "optout"]),
        ({"field": "postal_code", "op": "starts_with", "value": "941"}, ["sf", "optout"]),
        ({"field": "time_zone", "op": "in", "value": ["America/Toronto"]}, ["toronto"]),
        ({"field": "age", "op": "between", "value": {"min": 18, "max": 30}}, ["sf"]),
        ({"field": "age", "op": "between", "value": {"max": 16}}, ["toronto"]),
        ({"field": "source", "op": "in", "value": ["web"]}, ["la"]),
        ({"field": "shares_with_partners", "op": "is", "value": True}, ["sf"]),
        ({"field": "engagement", "op": "replied_within", "value": 7}, ["sf"]),
        ({"field": "engagement", "op": "clicked_within", "value": 7}, ["toronto"]),
        ({"field": "engagement", "op": "received_within", "value": 60}, ["la", "toronto"]),
        ({"field": "status", "op": "in", "value": ["pending", "opted_out"]}, ["pending", "optout"]),
    ],
)
def test_each_condition(personas, crowd, condition, expected):
    got = _match(personas, {"all": [condition]})
    assert got - {str(personas.fan.phone)} == _phones(crowd, *expected)


def test_joined_before_after_and_never_messaged(personas, crowd):
    import datetime as dt

    from django.utils import timezone

    cutoff = (timezone.now() - dt.timedelta(days=100)).date().isoformat()
    assert _match(personas, {"field": "joined_at", "op": "before", "value": cutoff}) == _phones(crowd, "old")
    after = _match(personas, {"field": "joined_at", "op": "after", "value": cutoff})
    assert _phones(crowd, "sf", "la") <= after and _phones(crowd, "old").isdisjoint(after)
    never = _match(personas, {"field": "engagement", "op": "never_messaged"})
    assert _phones(crowd, "sf", "old") <= never and _phones(crowd, "la", "toronto").isdisjoint(never)


def test_and_or_not_combine(personas, crowd):
    definition = {
        "any": [
            {
                "all": [
                    {"field": "region", "op": "in", "value": ["CA"]},
                    {"not": {"field": "source", "op": "in", "value": ["web"]}},
                ]
            },
            {"field": "country", "op": "in", "value": ["CA"]},
        ]
    }
    assert _match(personas, definition) == _phones(crowd, "sf", "toronto")


def test_lists_and_tags_each_fan_once_in_one_query(personas, crowd):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    press = ContactList.objects.create(talent=personas.talent, name="Press")
    for fan in (crowd["sf"], crowd["la"]):
        ContactListMember.objects.create(contact_list=vip, fan=fan)
    ContactListMember.objects.create(contact_list=press, fan=crowd["sf"])
    tag = Tag.objects.create(talent=personas.talent, name="presale")
    FanTag.objects.create(tag=tag, fan=crowd["sf"])
    FanTag.objects.create(tag=tag, fan=crowd["old"])
    seg = Segment.objects.create(
        talent=personas.talent,
        name="vip or tagged",
        definition={
            "any": [{"field": "list", "op": "in", "value": [vip.pk, press.pk]}, {"field": "tag", "value": [tag.pk]}]
        },
    )
    with CaptureQueriesContext(connection) as ctx:
        ids = list(segment_queryset(seg).values_list("id", flat=True))
    assert len(ctx.captured_queries) == 1
    assert sorted(ids) == sorted({crowd["sf"].pk, crowd["la"].pk, crowd["old"].pk})


def test_other_talents_fans_never_match(personas, crowd):
    seg = Segment.objects.create(talent=personas.talent, name="US", definition={"field": "country", "value": ["US"]})
    assert personas.other_fan not in set(segment_queryset(seg))


@pytest.mark.parametrize(
    "definition, message",
    [
        ({"all": [{"field": "country", "value": ["USA"]}]}, "definition.all[0] (country): 'USA' is not a two-letter"),
        ({"all": [{"field": "shoe_size", "value": 9}]}, "definition.all[0]: unknown field 'shoe_size'"),
        ({"any": []}, "definition.any: needs at least one rule"),
        (
            {"not": {"field": "age", "op": "between", "value": {"min": 40, "max": 20}}},
            "definition.not (age): minimum age 40",
        ),
        ({"all": [{"field": "joined_at", "op": "since", "value": "2020-01-01"}]}, "operator 'since'"),
        ({"all": [{"field": "joined_at", "op": "before", "value": "yesterday"}]}, "'yesterday' is not a date"),
        ({"all": [{"field": "engagement", "op": "replied_within", "value": 0}]}, "number of days from 1 to 3650"),
        ({"all": [{"field": "time_zone", "value": ["Mars/Olympus"]}]}, "'Mars/Olympus' is not an IANA time zone"),
        ({"all": [{"field": "list", "value": [999999]}]}, "definition.all[0] (list): no contact list with id 999999"),
        ({"sql": "DROP TABLE accounts_fan"}, "expected 'all', 'any', 'not' or a condition"),
        ([1, 2], "expected an object"),
    ],
)
def test_bad_rule_is_an_error_naming_the_rule(personas, definition, message):
    with pytest.raises(ValidationError) as exc:
        seg = Segment(talent=personas.talent, name="bad", definition=definition)
        seg.full_clean()
    assert message in str(exc.value)
    with pytest.raises(SegmentRuleError, match="definition"):
        Segment.objects.create(talent=personas.talent, name="bad", definition=definition)
    assert not Segment.objects.filter(name="bad").exists()


def test_another_talents_list_is_refused(personas):
    theirs = ContactList.objects.create(talent=personas.other_talent, name="Theirs")
    with pytest.raises(SegmentRuleError, match="no contact list with id"):
        validate_definition({"field": "list", "value": [theirs.pk]}, talent_id=personas.talent.pk)


def test_builtin_all_exists_for_every_talent_and_cannot_be_deleted(personas, crowd):
    talent = create_talent("fresh")
    builtin = Segment.objects.get(talent=talent, is_builtin=True)
    assert builtin.name == "all"
    nova_all = Segment.objects.get(talent=personas.talent, is_builtin=True)
    got = set(segment_queryset(nova_all))
    assert crowd["optout"] not in got and crowd["pending"] not in got
    assert got == set(Fan.objects.filter(talent=personas.talent, status="active"))
    with pytest.raises(ValidationError):
        nova_all.delete()
    with pytest.raises(ValidationError):
        Segment.objects.filter(talent=personas.talent).delete()
    assert Segment.objects.filter(pk=nova_all.pk).exists()
    # The talent itself may still go, taking its segments with it.
    talent.delete()
    assert not Segment.objects.filter(pk=builtin.pk).exists()


def test_name_all_is_reserved(personas):
    with pytest.raises(ValidationError, match="built-in"):
        Segment(talent=personas.talent, name="all", definition={}).full_clean()
