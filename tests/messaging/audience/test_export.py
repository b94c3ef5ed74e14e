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
    assert old[2] == "'=HYPERLINK(1)" and old[3] == "'-minus"  # spreadsheet injection neutralised in free text
    assert old[1] == "+13055550205"  # phones are plain E.164: ours, never free text, so no apostrophe
    assert old[5] == ""  # no birth date
    sf = by_id[crowd["sf"].pk]
    assert sf[4] == "true" and len(sf[5]) == 10
    # ISO 8601 in UTC, to the second.
    assert sf[6] == crowd["sf"].joined_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert dt.datetime.fromisoformat(sf[6]) == crowd["sf"].joined_at.replace(microsecond=0)
    assert all(not r[1].startswith("'") for r in rows[1:])
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
    # A partner export follows the export rules too: reachable fans only, phones plain E.164.
    assert lines == ["phone", "+14155550201"]
    audit = ExportAudit.objects.get()
    assert audit.for_partner and audit.partner == tourly and audit.partner_name == "Tourly"
    assert (audit.audience, audit.purpose) == ("reachable", "")


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
    # A segment of every status still exports only the reachable fans: no erased, opted-out or pending one.
    assert str(crowd["sf"].pk) not in ids
    assert sorted(map(int, ids)) == sorted(
        Fan.objects.filter(talent=personas.talent, status="active").values_list("id", flat=True)
    )
    assert str(crowd["optout"].pk) not in ids and str(crowd["pending"].pk) not in ids
    suppression = _run(
        audience_export(
            talent=personas.talent,
            actor=personas.owner,
            segment=seg,
            columns=["id"],
            audience="opted_out",
            purpose="suppression list for our email tool",
        )
    )
    assert str(crowd["sf"].pk) not in suppression.decode().split()  # erased: not even in a suppression list


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


def test_export_segment_command_for_a_named_partner_and_a_suppression_list(personas, crowd, tmp_path):
    """Both flags of the command: --partner NAME (issue 15) and --opted-out PURPOSE (issue 12)."""
    from consent.models import Partner

    Partner.objects.create(talent=personas.talent, name="Tourly", purpose="presales")
    target = tmp_path / "out.csv"
    base = ["export_segment", "--talent", "nova", "--segment", "all", "-o", str(target), "--columns", "phone"]
    with pytest.raises(CommandError, match="no partner named 'Nobody'"):
        call_command(*base, "--partner", "Nobody")
    with pytest.raises(CommandError, match="never exported for a partner"):
        call_command(*base, "--partner", "Tourly", "--opted-out", "suppression list")
    assert not ExportAudit.objects.exists()
    call_command(*base, "--partner", "Tourly", stdout=io.StringIO())
    assert target.read_text().splitlines() == ["phone", "+14155550201"]
    call_command(*base, "--opted-out", "suppression list for our email tool", stdout=io.StringIO())
    assert target.read_text().splitlines() == ["phone", str(crowd["optout"].phone)]
    partner_row, suppression_row = ExportAudit.objects.order_by("pk")
    assert (partner_row.partner_name, partner_row.audience, partner_row.for_partner) == ("Tourly", "reachable", True)
    assert (suppression_row.partner_name, suppression_row.audience) == ("", "opted_out")
    assert suppression_row.purpose == "suppression list for our email tool"


@pytest.mark.postgres_only
def test_postgresql_export_uses_copy(personas, crowd):
    assert connection.vendor == "postgresql"
    from django.test.utils import CaptureQueriesContext

    export = audience_export(talent=personas.talent, actor=personas.owner, segment=_all(personas), columns=["phone"])
    with CaptureQueriesContext(connection):
        data = _run(export)
    assert data.startswith(b"phone\n+1") and b"'" not in data


# --- who an export holds: reachable by default, opted-out only as an audited suppression list -------------
def test_default_export_leaves_out_fans_who_texted_stop(personas, crowd):
    data = _run(
        audience_export(talent=personas.talent, actor=personas.owner, segment=_all(personas), columns=["phone"])
    )
    phones = data.decode().split()[1:]
    assert str(crowd["optout"].phone) not in phones and str(crowd["pending"].phone) not in phones
    assert str(crowd["sf"].phone) in phones


def test_opted_out_export_needs_a_purpose_and_is_audited(personas, crowd):
    from consent.models import Partner

    seg = Segment.objects.create(talent=personas.talent, name="everyone", definition={})
    for purpose in ("", "   ", "x"):
        with pytest.raises(AudienceError, match="Say why"):
            audience_export(
                talent=personas.talent, actor=personas.owner, segment=seg, audience="opted_out", purpose=purpose
            )
    # Not even for one of the talent's own partners (a partner export names one, issue 15).
    tourly = Partner.objects.create(talent=personas.talent, name="Tourly", purpose="presales")
    for partner_kwargs in ({"for_partner": True, "partner": tourly}, {"partner": tourly}):
        with pytest.raises(AudienceError, match="never exported for a partner"):
            audience_export(
                talent=personas.talent,
                actor=personas.owner,
                segment=seg,
                audience="opted_out",
                purpose="suppression list",
                **partner_kwargs,
            )
    with pytest.raises(AudienceError, match="Unknown audience"):
        audience_export(talent=personas.talent, actor=personas.owner, segment=seg, audience="everyone")
    assert not ExportAudit.objects.exists()
    export = audience_export(
        talent=personas.talent,
        actor=personas.analyst,
        segment=seg,
        columns=["phone"],
        audience="opted_out",
        purpose="Suppression list for our email tool",
    )
    assert _run(export).decode().splitlines() == ["phone", str(crowd["optout"].phone)]
    row = ExportAudit.objects.get()
    assert (row.audience, row.purpose, row.row_count) == ("opted_out", "Suppression list for our email tool", 1)
    event = AuditEvent.objects.get(action="audience.exported")
    assert event.details["audience"] == "opted_out" and event.details["purpose"].startswith("Suppression")
    assert event.actor == personas.analyst


def test_export_counts_before_download(personas, crowd):
    from messaging.audience.exports import export_counts

    seg = Segment.objects.create(talent=personas.talent, name="everyone", definition={})
    Fan.objects.filter(pk=crowd["la"].pk).update(status="erased", phone=None)
    counts = export_counts(segment=seg)
    fans = Fan.objects.filter(talent=personas.talent)
    assert counts["reachable"] == fans.filter(status="active").count()
    assert (counts["opted_out"], counts["pending"], counts["erased"]) == (1, 1, 1)
