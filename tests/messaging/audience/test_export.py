"""Exports: chosen columns, neutralised cells, partner consent, JSON lines, audit rows, permission."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import AuditEvent, Fan
from messaging.audience.exports import audience_export
from messaging.audience.services import AudienceError
from messaging.models import ContactList, ExportAudit, Segment

pytestmark = pytest.mark.django_db


def _all(personas) -> Segment:
    return Segment.objects.get(talent=personas.talent, is_builtin=True)


def _run(export) -> bytes:
    return b"".join(export.chunks())


def test_csv_with_chosen_columns_and_neutralised_cells(personas, crowd):
    export = audience_export(
        talent=personas.talent,
        actor=personas.analyst,
        segment=_all(personas),
        columns=["id", "phone", "first_name", "last_name", "shares_with_partners", "birth_date", "joined_at"],
    )
    data = _run(export).decode("utf-8")
    rows = list(csv.reader(io.StringIO(data)))
    assert rows[0] == ["id", "phone", "first_name", "last_name", "shares_with_partners", "birth_date", "joined_at"]
    active = Fan.objects.filter(talent=personas.talent, status="active").order_by("id")
    assert [int(r[0]) for r in rows[1:]] == list(active.values_list("id", flat=True))
    by_id = {int(r[0]): r for r in rows[1:]}
    old = by_id[crowd["old"].pk]
    assert old[2] == "'=HYPERLINK(1)" and old[3] == "'-minus"  # spreadsheet injection neutralised
    assert old[1] == "'+13055550205"  # a leading + is a formula start too
    assert old[5] == ""  # no birth date
    sf = by_id[crowd["sf"].pk]
    assert sf[4] == "true" and len(sf[5]) == 10 and sf[6].endswith("+00")
    assert dt.datetime.fromisoformat(sf[6]).replace(microsecond=0) == crowd["sf"].joined_at.replace(microsecond=0)
    audit = ExportAudit.objects.get(pk=export.audit_row.pk)
    assert audit.row_count == active.count() and audit.completed
    assert audit.actor == personas.analyst and audit.columns[1] == "phone" and audit.segment == _all(personas)
    event = AuditEvent.objects.get(action="audience.exported")
    assert event.details["export_id"] == audit.pk and event.actor == personas.analyst


def test_partner_export_leaves_out_fans_without_sharing_consent(personas, crowd):
    from consent.models import Partner

    tourly = Partner.objects.create(talent=personas.talent, name="Tourly", purpose="presales")
    export = audience_export(
        talent=personas.talent, actor=personas.owner, segment=_all(personas), columns=["phone"], partner=tourly
    )
    lines = _run(export).decode().splitlines()
    assert lines == ["phone", "'+14155550201"]
    audit = ExportAudit.objects.get()
    assert audit.for_partner and audit.partner == tourly and audit.partner_name == "Tourly"


def test_a_partner_export_names_one_of_the_talents_current_partners(personas, crowd):
    """Issue 15: fans agreed to share with the partners named on the privacy page, not anyone."""
    from consent.models import Partner
    from messaging.audience.services import AudienceError

    theirs = Partner.objects.create(talent=personas.other_talent, name="Rival Merch", purpose="merch")
    gone = Partner.objects.create(talent=personas.talent, name="Old", purpose="x", is_active=False)
    for kwargs in ({"for_partner": True}, {"partner": theirs}, {"partner": gone}):
        with pytest.raises(AudienceError):
            audience_export(talent=personas.talent, actor=personas.owner, segment=_all(personas), **kwargs)
    assert not ExportAudit.objects.exists()


def test_json_lines_of_a_list(personas, crowd):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    vip.memberships.create(fan=crowd["old"])
    vip.memberships.create(fan=crowd["sf"])
    export = audience_export(
        talent=personas.talent,
        actor=personas.owner,
        contact_list=vip,
        columns=["first_name", "shares_with_partners", "birth_date"],
        file_format="jsonl",
    )
    lines = _run(export).decode().splitlines()
    objs = [json.loads(line) for line in lines]
    assert objs[0] == {
        "first_name": crowd["sf"].first_name,
        "shares_with_partners": True,
        "birth_date": str(crowd["sf"].birth_date),
    }
    assert objs[1] == {"first_name": "=HYPERLINK(1)", "shares_with_partners": False, "birth_date": None}
    assert export.filename.endswith(".jsonl")


def test_erased_fans_are_never_exported(personas, crowd):
    Fan.objects.filter(pk=crowd["sf"].pk).update(status="erased", phone=None)
    seg = Segment.objects.create(talent=personas.talent, name="any", definition={})
    ids = [
        line
        for line in _run(audience_export(talent=personas.talent, actor=personas.owner, segment=seg, columns=["id"]))
        .decode()
        .split()[1:]
    ]
    assert str(crowd["sf"].pk) not in ids and len(ids) == Fan.objects.filter(talent=personas.talent).count() - 1


def test_only_export_roles_may_export(personas, crowd):
    for user in (personas.manager, personas.agent, personas.other_manager):
        with pytest.raises(PermissionError):
            audience_export(talent=personas.talent, actor=user, segment=_all(personas))
    assert not ExportAudit.objects.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"columns": ["phone", "password"]}, "Unknown column 'password'"),
        ({"file_format": "xlsx"}, "Unknown format"),
        ({"columns": ["phone", "phone"]}, "twice"),
    ],
)
def test_bad_export_requests(personas, kwargs, message):
    with pytest.raises(AudienceError, match=message):
        audience_export(talent=personas.talent, actor=personas.owner, segment=_all(personas), **kwargs)


def test_another_talents_segment_is_refused(personas):
    theirs = Segment.objects.get(talent=personas.other_talent, is_builtin=True)
    with pytest.raises(AudienceError, match="another talent"):
        audience_export(talent=personas.talent, actor=personas.owner, segment=theirs)


def test_stream_cut_off_is_recorded_and_the_connection_stays_usable(personas, crowd):
    export = audience_export(talent=personas.talent, actor=personas.owner, segment=_all(personas))
    stream = export.chunks()
    next(stream)  # the header
    stream.close()  # client went away
    audit = ExportAudit.objects.get()
    assert audit.completed is False and audit.finished_at is not None
    assert Fan.objects.count() > 0


def test_export_segment_command(personas, crowd, tmp_path):
    target = tmp_path / "out.csv"
    out = io.StringIO()
    call_command(
        "export_segment",
        "--talent",
        "nova",
        "--segment",
        "all",
        "-o",
        str(target),
        "--columns",
        "phone,country",
        stdout=out,
    )
    lines = target.read_text().splitlines()
    assert (
        lines[0] == "phone,country"
        and len(lines) == 1 + Fan.objects.filter(talent=personas.talent, status="active").count()
    )
    assert ExportAudit.objects.get().via == "command"
    with pytest.raises(CommandError, match="No segment named 'nope'"):
        call_command("export_segment", "--talent", "nova", "--segment", "nope", "-o", str(target))
    with pytest.raises(CommandError, match="Unknown column"):
        call_command("export_segment", "--talent", "nova", "--segment", "all", "-o", str(target), "--columns", "ssn")


@pytest.mark.postgres_only
def test_postgresql_export_uses_copy(personas, crowd):
    assert connection.vendor == "postgresql"
    from django.test.utils import CaptureQueriesContext

    export = audience_export(talent=personas.talent, actor=personas.owner, segment=_all(personas), columns=["phone"])
    with CaptureQueriesContext(connection):
        data = _run(export)
    assert data.startswith(b"phone\n'+1")
