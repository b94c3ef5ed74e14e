"""Imports: header mapping, E.164, consent evidence required, erased skipped, upsert, bad rows reported, whole-or-nothing."""

from __future__ import annotations

import datetime as dt
import io
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from accounts.models import Fan
from accounts.phones import phone_hash, phone_hasher
from consent.models import ConsentRecord
from messaging.audience import imports as audience_io
from messaging.audience.imports import ImportRefused, import_batch_create, import_batch_run, normalise_phone
from messaging.models import ContactList, FanTag, ImportBatch
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

AGREED = dt.date(2026, 3, 1)


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path


def _import(personas, text: str | bytes, **kwargs) -> ImportBatch:
    data = text.encode() if isinstance(text, str) else text
    options = {"consent_source": "Tour 2026 sign-up sheet", "consent_date": AGREED, "default_region": "US"}
    options.update(kwargs)
    batch = import_batch_create(
        talent=personas.talent, file=ContentFile(data), original_name="fans.csv", actor=personas.manager, **options
    )
    return import_batch_run(batch=batch)


def _pending_batch(personas) -> ImportBatch:
    return import_batch_create(
        talent=personas.talent,
        file=ContentFile(GOOD.encode()),
        original_name="fans.csv",
        consent_source="Sheet",
        consent_date=AGREED,
        actor=personas.manager,
    )


GOOD = """Phone Number,First Name,Surname,E-mail,DOB,ZIP,State,Country,Timezone,Tags
(415) 555-0301,Ann,Lee,ann@example.com,1990-02-03,94110,CA,us,America/Los_Angeles,vip;presale
+442079460958,Ben,Ng,,,,,GB,Europe/London,
4155550302,Cy,,,,,,,,
"""


def test_good_rows_land_with_consent_evidence(personas):
    vip = ContactList.objects.create(talent=personas.talent, name="Tour")
    batch = _import(personas, GOOD, contact_list=vip)
    assert batch.status == "completed", batch.failure
    assert (batch.total_rows, batch.created_count, batch.updated_count, batch.error_count) == (3, 3, 0, 0)
    ann = Fan.objects.get(talent=personas.talent, phone="+14155550301")
    assert (ann.first_name, ann.last_name, ann.email, ann.postal_code, ann.region, ann.country) == (
        "Ann",
        "Lee",
        "ann@example.com",
        "94110",
        "CA",
        "US",
    )
    assert ann.birth_date == dt.date(1990, 2, 3) and ann.status == "active" and ann.source == "import"
    assert ann.joined_at.date() == AGREED
    assert Fan.objects.filter(talent=personas.talent, phone="+442079460958").exists()
    records = ConsentRecord.objects.filter(talent=personas.talent, method="import")
    assert records.count() == 3
    assert {r.evidence for r in records} == {f"import-batch:{batch.pk}"}
    assert "Tour 2026 sign-up sheet" in records.first().disclosure
    assert not ann.shares_with_partners  # partner sharing is never granted by an import
    assert vip.memberships.count() == 3
    assert set(FanTag.objects.filter(fan=ann).values_list("tag__name", flat=True)) == {"vip", "presale"}


def test_existing_fans_are_updated_never_duplicated(personas):
    pending = create_fan(personas.talent, "+14155550301", first_name="Old", status="pending", email="keep@example.com")
    gone = create_fan(personas.talent, "+14155550302", status="opted_out")
    batch = _import(personas, GOOD)
    assert (batch.created_count, batch.updated_count) == (1, 2)
    pending.refresh_from_db()
    gone.refresh_from_db()
    assert pending.first_name == "Ann" and pending.email == "ann@example.com" and pending.status == "active"
    assert gone.status == "opted_out"  # an import never overrides a STOP
    assert not ConsentRecord.objects.filter(fan=gone).exists()
    assert Fan.objects.filter(talent=personas.talent, phone="+14155550301").count() == 1
    again = _import(personas, GOOD)
    assert (again.created_count, again.updated_count) == (0, 3)
    assert Fan.objects.filter(talent=personas.talent).count() == 4  # personas.fan + 3


def test_empty_cells_do_not_wipe_known_values(personas):
    fan = create_fan(personas.talent, "+14155550302", first_name="Cyrus", city="Oakland")
    _import(personas, GOOD)
    fan.refresh_from_db()
    assert fan.first_name == "Cy" and fan.city == "Oakland"


def test_bad_rows_reported_with_line_numbers_while_good_rows_land(personas):
    text = (
        "phone,first_name,birth_date,country,email\n"
        "+14155550401,Ok,,,\n"
        "12,Short,,,\n"
        "+14155550402,Young,2025-01-01,,\n"
        "+14155550403,Badcountry,,USA,\n"
        "+14155550401,Dup,,,\n"
        "+14155550404,Mail,,,not-an-email\n"
        "+14155550405,Cols\n"
        "+14155550406,Fine,1980-13-01,,\n"
    )
    batch = _import(personas, text)
    assert batch.status == "completed"
    assert (batch.created_count, batch.error_count) == (1, 7)
    report = batch.error_report.splitlines()
    assert report[0] == "line,reason"
    lines = [int(r.split(",", 1)[0]) for r in report[1:]]
    assert lines == [3, 4, 5, 6, 7, 8, 9]
    assert "younger than the minimum age" in report[2]
    assert "duplicate of line 2" in report[4]
    assert "expected 5 columns" in report[6]


def test_erased_numbers_are_skipped(personas):
    Fan.objects.create(
        talent=personas.talent,
        phone=None,
        status="erased",
        phone_hash=phone_hash(talent_id=personas.talent.pk, e164="+14155550301"),
    )
    batch = _import(personas, GOOD)
    assert batch.skipped_erased == 1 and batch.created_count == 2
    assert not Fan.objects.filter(phone="+14155550301").exists()


def test_a_number_erased_through_the_data_page_cannot_be_imported_back(personas):
    """The erasure service (consent) and the import (messaging) must agree on the hash."""
    from messaging.privacy.services import fan_erase
    from tests.factories import create_fan

    fan = create_fan(personas.talent, "+14155550301")
    fan_erase(fan=fan)
    batch = _import(personas, GOOD)
    assert batch.skipped_erased == 1
    assert not Fan.objects.filter(phone="+14155550301").exists()


def test_phone_hash_fast_path_matches_salted_hmac(personas):
    from django.conf import settings
    from django.utils.crypto import salted_hmac

    tid = personas.talent.pk
    expected = salted_hmac(
        "fancommunity.phone_hash", f"{tid}:+14155550101", secret=settings.SECRET_KEY, algorithm="sha256"
    )
    assert phone_hash(talent_id=tid, e164="+14155550101") == expected.hexdigest()
    assert phone_hasher(tid)("+14155550101") == phone_hash(talent_id=tid, e164="+14155550101")
    assert len(phone_hash(talent_id=tid, e164="+14155550101")) == 64


def test_normalise_phone():
    assert normalise_phone("+1 (415) 555-0101", "US") == "+14155550101"
    assert normalise_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalise_phone("+14155550101", "GB") == "+14155550101"
    with pytest.raises(ValueError):
        normalise_phone("+1415555", "US")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"consent_source": ""}, "consent evidence is required"),
        ({"consent_date": None}, "give the date"),
        ({"consent_date": dt.date.today() + dt.timedelta(days=3)}, "in the future"),
        ({"default_region": "XX"}, "not a region"),
    ],
)
def test_import_without_evidence_is_refused(personas, kwargs, message):
    with pytest.raises(ImportRefused, match=message):
        _import(personas, GOOD, **kwargs)
    assert not ImportBatch.objects.exists()
    assert Fan.objects.filter(talent=personas.talent).count() == 1


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "the file is empty"),
        (b"name,email\nA,a@example.com\n", "line 1: no phone column"),
        (
            "phone,first_name\n+14155550501,Ann\n+14155550502,Jos\u00e9\n".encode("latin-1"),
            "line 3: the file is not UTF-8",
        ),
        (b'phone,first_name\n+14155550501,"Ann\n', "malformed CSV"),
        (b"phone\n+14155550501\x00\n", "NUL byte"),
    ],
)
def test_malformed_file_is_refused_whole(personas, data, message):
    batch = _import(personas, data)
    assert batch.status == "failed"
    assert message in batch.failure
    assert Fan.objects.filter(talent=personas.talent).count() == 1
    assert not ConsentRecord.objects.exists()


def test_oversized_upload_is_refused(personas, settings):
    settings.AUDIENCE_IMPORT_MAX_BYTES = 50
    with pytest.raises(ImportRefused, match="the limit is 50"):
        _import(personas, GOOD)


def test_crash_mid_import_leaves_nothing_and_the_batch_resumable(personas):
    batch = _pending_batch(personas)
    # The process dies after the rows were written, before the batch is marked completed.
    with mock.patch.object(audience_io, "error_report", side_effect=RuntimeError("worker killed")):
        with pytest.raises(RuntimeError):
            import_batch_run(batch=batch)
    batch.refresh_from_db()
    assert batch.status == "running"  # visibly interrupted, never "completed" with rows missing
    assert Fan.objects.filter(talent=personas.talent).count() == 1  # nothing landed
    assert not ConsentRecord.objects.exists()
    resumed = import_batch_run(batch=batch)
    assert resumed.status == "completed" and resumed.created_count == 3
    assert import_batch_run(batch=resumed).created_count == 3  # a completed batch is not run twice
    assert Fan.objects.filter(talent=personas.talent).count() == 4


def test_import_fans_command(personas, tmp_path):
    path = tmp_path / "fans.csv"
    path.write_text(GOOD)
    out = io.StringIO()
    call_command(
        "import_fans",
        "--talent",
        "nova",
        str(path),
        "--source",
        "Street team",
        "--consent-date",
        "2026-03-01",
        stdout=out,
    )
    assert "created 3" in out.getvalue()
    with pytest.raises(CommandError, match="consent evidence"):
        call_command("import_fans", "--talent", "nova", str(path), "--consent-date", "2026-03-01", stdout=out)
    with pytest.raises(CommandError, match="no talent"):
        call_command("import_fans", "--talent", "nobody", str(path), "--source", "x", "--consent-date", "2026-03-01")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"phone\n12\n")
    errors = tmp_path / "errors.csv"
    call_command(
        "import_fans",
        "--talent",
        "nova",
        str(bad),
        "--source",
        "x",
        "--consent-date",
        "2026-03-01",
        "--errors",
        str(errors),
        stdout=out,
    )
    assert errors.read_text().startswith("line,reason\n2,")


@pytest.mark.postgres_only
def test_concurrent_signup_falls_back_to_the_upsert(personas):
    """A number that appears between the snapshot and the insert: the split form fails, the upsert form lands it."""
    existing = create_fan(personas.talent, "+14155550301", first_name="Early", status="pending")
    real_split = audience_io._split_sql

    def racing_split(*args, **kwargs):
        sql, params = real_split(*args, **kwargs)
        # Simulate the race: the insert no longer sees the fan that "just signed up".
        return sql.replace("WHERE NOT EXISTS", "WHERE true OR NOT EXISTS"), params

    with mock.patch.object(audience_io, "_split_sql", side_effect=racing_split):
        batch = _import(personas, GOOD)
    assert batch.status == "completed" and (batch.created_count, batch.updated_count) == (2, 1)
    existing.refresh_from_db()
    assert existing.first_name == "Ann" and existing.status == "active"
    assert ConsentRecord.objects.filter(fan=existing, evidence=batch.evidence).count() == 1


def test_a_finished_batch_discards_its_upload_an_interrupted_one_keeps_it(
    personas, tmp_path, django_capture_on_commit_callbacks
):
    """The numbers in an upload must not outlive the batch: erasure reaches fans, not old files."""
    batch = _pending_batch(personas)
    stored = tmp_path / batch.file.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        with mock.patch.object(audience_io, "error_report", side_effect=RuntimeError("worker killed")):
            with pytest.raises(RuntimeError):
                import_batch_run(batch=batch)
    assert stored.exists()  # interrupted: kept for the re-run
    with django_capture_on_commit_callbacks(execute=True):
        done = import_batch_run(batch=batch)
    assert done.status == "completed" and not stored.exists()
    done.refresh_from_db()
    assert done.file.name == "" and done.created_count == 3 and done.original_name == "fans.csv"
    with django_capture_on_commit_callbacks(execute=True):
        refused = _import(personas, b"\xff\xfe\x00bad")
    assert refused.status == "failed" and not (tmp_path / refused.file.name).is_file()
