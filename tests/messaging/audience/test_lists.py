"""Contact lists: add/remove in one statement, from a CSV of numbers, and the campaign selector."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent, Fan
from messaging.audience.imports import ImportRefused, contact_list_update_from_csv
from messaging.audience.services import (
    AudienceError,
    audience_queryset,
    contact_list_add_fans,
    contact_list_queryset,
    contact_list_remove_fans,
)
from messaging.models import ContactList, Segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip(personas):
    return ContactList.objects.create(talent=personas.talent, name="VIP")


def test_add_is_idempotent_and_ignores_other_talents_fans(personas, crowd, vip):
    fans = Fan.objects.filter(pk__in=[crowd["sf"].pk, crowd["la"].pk, personas.other_fan.pk])
    assert contact_list_add_fans(contact_list=vip, fans=fans, actor=personas.manager) == 2
    assert contact_list_add_fans(contact_list=vip, fans=fans, actor=personas.manager) == 0
    assert set(contact_list_queryset(vip)) == {crowd["sf"], crowd["la"]}
    assert AuditEvent.objects.filter(action="contact_list.fans_added", object_id=str(vip.pk)).count() == 2


def test_remove(personas, crowd, vip):
    contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(talent=personas.talent))
    removed = contact_list_remove_fans(contact_list=vip, fans=Fan.objects.filter(pk=crowd["sf"].pk))
    assert removed == 1
    assert crowd["sf"] not in set(contact_list_queryset(vip))


def test_csv_of_numbers_adds_known_fans_and_reports_the_rest(personas, crowd, vip):
    data = b"mobile,name\n(415) 555-0201,x\n+1 213 555 0202,y\n+14155559999,z\nnot a number,w\n"
    result = contact_list_update_from_csv(contact_list=vip, file=io.BytesIO(data), actor=personas.manager)
    assert result.changed == 2
    assert set(contact_list_queryset(vip)) == {crowd["sf"], crowd["la"]}
    assert [line for line, _ in result.errors] == [4, 5]
    assert "no fan of Nova Ray" in result.errors[0][1]


def test_bare_column_of_numbers_and_removal(personas, crowd, vip):
    contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(talent=personas.talent))
    data = b"+14155550201\n+12135550202\n"
    result = contact_list_update_from_csv(contact_list=vip, file=io.BytesIO(data), remove=True)
    assert result.changed == 2
    assert crowd["sf"] not in set(contact_list_queryset(vip))


def test_csv_in_wrong_encoding_is_refused_and_nothing_changes(personas, crowd, vip):
    data = "phone\n+14155550201\nJos\u00e9\n".encode("latin-1")
    with pytest.raises(ImportRefused, match="line 3: the file is not UTF-8"):
        contact_list_update_from_csv(contact_list=vip, file=io.BytesIO(data))
    assert not vip.memberships.exists()


def test_audience_queryset_includes_excludes_each_fan_once(personas, crowd, vip):
    contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(pk__in=[crowd["sf"].pk, crowd["optout"].pk]))
    ca = Segment.objects.create(talent=personas.talent, name="CA", definition={"field": "region", "value": ["CA"]})
    young = Segment.objects.create(
        talent=personas.talent, name="young", definition={"field": "age", "op": "between", "value": {"max": 25}}
    )
    qs = audience_queryset(talent=personas.talent, include_lists=[vip], include_segments=[ca], exclude_segments=[young])
    assert sorted(qs.values_list("id", flat=True)) == sorted([crowd["la"].pk, crowd["optout"].pk])
    # No include: every active fan of the talent; excludes still apply; ids work as well as objects.
    everyone = audience_queryset(talent=personas.talent, exclude_lists=[vip.pk])
    assert set(everyone) == set(Fan.objects.filter(talent=personas.talent, status="active").exclude(pk=crowd["sf"].pk))


def test_audience_queryset_is_one_query_usable_as_subquery(personas, crowd, vip):
    contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(talent=personas.talent))
    all_seg = Segment.objects.get(talent=personas.talent, is_builtin=True)
    qs = audience_queryset(talent=personas.talent, include_lists=[vip], include_segments=[all_seg])
    with CaptureQueriesContext(connection) as ctx:
        n = Fan.objects.filter(id__in=qs.values("id")).count()
    assert len(ctx.captured_queries) == 1
    assert n == Fan.objects.filter(talent=personas.talent).count()


def test_audience_queryset_refuses_another_talents_list(personas, vip):
    theirs = ContactList.objects.create(talent=personas.other_talent, name="Theirs")
    with pytest.raises(AudienceError, match="another talent"):
        audience_queryset(talent=personas.talent, include_lists=[theirs])
    with pytest.raises(AudienceError):
        audience_queryset(talent=personas.talent, exclude_segments=[theirs.pk + 10_000])
