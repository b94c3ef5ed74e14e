"""Audience API: scoped per talent and role, validated, exports streamed and audited."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import Fan
from messaging.models import ContactList, ExportAudit, ImportBatch, Segment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_segment_crud_validates_and_protects_builtin(personas, crowd):
    client = api(personas.manager)
    definition = {"all": [{"field": "region", "op": "in", "value": ["CA"]}]}
    response = client.post(
        "/api/segments/", {"talent": personas.talent.pk, "name": "CA", "definition": definition}, format="json"
    )
    assert response.status_code == 201, response.data
    seg_id = response.data["id"]
    count = client.get(f"/api/segments/{seg_id}/count/")
    assert count.data["count"] == 2 and {f["id"] for f in count.data["sample"]} == {crowd["sf"].pk, crowd["la"].pk}
    bad = client.post(
        "/api/segments/",
        {"talent": personas.talent.pk, "name": "bad", "definition": {"all": [{"field": "country", "value": ["USA"]}]}},
        format="json",
    )
    assert bad.status_code == 400 and "definition.all[0] (country)" in str(bad.data["definition"])
    builtin = Segment.objects.get(talent=personas.talent, is_builtin=True)
    assert client.delete(f"/api/segments/{builtin.pk}/").status_code == 409
    assert client.patch(f"/api/segments/{builtin.pk}/", {"name": "x"}, format="json").status_code == 400
    assert Segment.objects.filter(pk=builtin.pk, name="all").exists()
    assert client.delete(f"/api/segments/{seg_id}/").status_code == 204


def test_preview_without_saving(personas, crowd):
    response = api(personas.manager).post(
        "/api/segments/preview/",
        {"talent": personas.talent.pk, "definition": {"field": "postal_code", "op": "starts_with", "value": "941"}},
        format="json",
    )
    # 941* matches sf and the fan who texted STOP: only sf is reachable.
    assert response.status_code == 200 and response.data["count"] == 1
    assert response.data["breakdown"]["opted_out"] == 1 and response.data["breakdown"]["total"] == 2
    assert [f["id"] for f in response.data["sample"]] == [crowd["sf"].pk]


def test_another_talents_rows_are_invisible(personas):
    theirs = Segment.objects.get(talent=personas.other_talent, is_builtin=True)
    their_list = ContactList.objects.create(talent=personas.other_talent, name="Theirs")
    client = api(personas.manager)
    assert client.get(f"/api/segments/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/segments/{theirs.pk}/export/").status_code == 404
    assert (
        client.post(f"/api/contact-lists/{their_list.pk}/add-fans/", {"fan_ids": [1]}, format="json").status_code == 404
    )
    names = {s["name"] for s in client.get("/api/segments/").data["results"]}
    assert names == {"all"}
    created = client.post("/api/contact-lists/", {"talent": personas.other_talent.pk, "name": "Sneaky"}, format="json")
    assert created.status_code == 400 and not ContactList.objects.filter(name="Sneaky").exists()


def test_lists_add_remove_by_ids_and_phones(personas, crowd):
    client = api(personas.manager)
    created = client.post("/api/contact-lists/", {"talent": personas.talent.pk, "name": "VIP"}, format="json")
    assert created.status_code == 201
    list_id = created.data["id"]
    added = client.post(
        f"/api/contact-lists/{list_id}/add-fans/",
        {"fan_ids": [crowd["sf"].pk, personas.other_fan.pk], "phones": []},
        format="json",
    )
    assert added.data == {"added": 1, "not_found": [str(personas.other_fan.pk)]}
    by_phone = client.post(
        f"/api/contact-lists/{list_id}/add-fans/", {"phones": ["(213) 555-0202", "+19995550000"]}, format="json"
    )
    assert by_phone.data["added"] == 1 and by_phone.data["not_found"] == ["+19995550000"]
    removed = client.post(f"/api/contact-lists/{list_id}/remove-fans/", {"fan_ids": [crowd["sf"].pk]}, format="json")
    assert removed.data["removed"] == 1
    assert client.get(f"/api/contact-lists/{list_id}/").data["member_count"] == 1
    assert client.post(f"/api/contact-lists/{list_id}/add-fans/", {}, format="json").status_code == 400


def test_agent_may_read_but_not_change(personas):
    client = api(personas.agent)
    assert client.get("/api/segments/").status_code == 200
    response = client.post("/api/contact-lists/", {"talent": personas.talent.pk, "name": "X"}, format="json")
    assert response.status_code == 400  # the talent is not one this role may edit
    assert not ContactList.objects.filter(name="X").exists()


def test_export_needs_the_export_permission_and_is_audited(personas, crowd):
    seg = Segment.objects.get(talent=personas.talent, is_builtin=True)
    assert api(personas.manager).get(f"/api/segments/{seg.pk}/export/").status_code == 403
    from consent.models import Partner

    unnamed = api(personas.analyst).get(f"/api/segments/{seg.pk}/export/?partner=true")
    assert unnamed.status_code == 400 and "Pick the partner" in str(unnamed.data)
    tourly = Partner.objects.create(talent=personas.talent, name="Tourly", purpose="presales")
    response = api(personas.analyst).get(
        f"/api/segments/{seg.pk}/export/?columns=id,first_name&file_format=jsonl&partner=true&partner_id={tourly.pk}"
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode().splitlines()
    assert len(body) == 1 and f'"id": {crowd["sf"].pk}' in body[0].replace('"id" : ', '"id": ')
    audit = ExportAudit.objects.get()
    assert (audit.via, audit.row_count, audit.for_partner, audit.columns) == ("api", 1, True, ["id", "first_name"])
    assert (audit.partner, audit.partner_name, audit.audience) == (tourly, "Tourly", "reachable")
    # A suppression list is never for a partner, even a named one.
    refused = api(personas.analyst).get(
        f"/api/segments/{seg.pk}/export/?audience=opted_out&purpose=suppression+list&partner_id={tourly.pk}"
    )
    assert refused.status_code == 400 and "never exported for a partner" in str(refused.data)
    assert ExportAudit.objects.count() == 1
    bad = api(personas.analyst).get(f"/api/segments/{seg.pk}/export/?columns=ssn")
    assert bad.status_code == 400 and "Unknown column" in str(bad.data)


def test_import_by_api(personas):
    client = api(personas.manager)
    upload = SimpleUploadedFile("f.csv", b"phone,first_name\n+14155550701,Ann\nbad,Bo\n", content_type="text/csv")
    response = client.post(
        "/api/imports/",
        {"talent": personas.talent.pk, "file": upload, "consent_source": "Sheet", "consent_date": "2026-01-05"},
        format="multipart",
    )
    assert response.status_code == 201, response.data
    assert response.data["created_count"] == 1 and response.data["error_count"] == 1
    errors = client.get(f"/api/imports/{response.data['id']}/errors/")
    assert errors.content.decode().startswith("line,reason\n3,")
    missing = client.post(
        "/api/imports/",
        {"talent": personas.talent.pk, "file": SimpleUploadedFile("f.csv", b"phone\n")},
        format="multipart",
    )
    assert missing.status_code == 400 and "consent_source" in missing.data
    wrong = client.post(
        "/api/imports/",
        {
            "talent": personas.talent.pk,
            "file": SimpleUploadedFile("f.csv", "phone\n+14155550702\nJos\u00e9\n".encode("latin-1")),
            "consent_source": "Sheet",
            "consent_date": "2026-01-05",
        },
        format="multipart",
    )
    assert wrong.status_code == 400 and "not UTF-8" in wrong.data["failure"]
    assert ImportBatch.objects.filter(status="failed").count() == 1


def test_a_big_import_is_queued_and_answered_202(personas, settings, tmp_path, django_capture_on_commit_callbacks):
    """Past AUDIENCE_IMPORT_INLINE_MAX_BYTES the request only stores the batch; a task imports it."""
    settings.MEDIA_ROOT = tmp_path
    settings.AUDIENCE_IMPORT_INLINE_MAX_BYTES = 10
    client = api(personas.manager)
    upload = SimpleUploadedFile("big.csv", b"phone,first_name\n+14155550801,Ann\n+14155550802,Bo\n")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(
            "/api/imports/",
            {"talent": personas.talent.pk, "file": upload, "consent_source": "Sheet", "consent_date": "2026-01-05"},
            format="multipart",
        )
    assert response.status_code == 202, response.data
    assert response.data["status"] == "pending" and response.data["created_count"] == 0
    assert not Fan.objects.filter(phone="+14155550801").exists()
    assert len(queued) == 1
    queued[0]()  # the commit: the task is enqueued (and, with the tests' sync queue, runs now)
    done = client.get(f"/api/imports/{response.data['id']}/")
    assert done.data["status"] == "completed" and done.data["created_count"] == 2
    assert Fan.objects.filter(phone="+14155550801", talent=personas.talent, status="active").exists()
