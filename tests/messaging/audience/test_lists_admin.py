"""Console: segment builder with preview, built-in `all` protected, list actions and uploads, imports, exports."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Fan
from messaging.models import ContactList, ExportAudit, FanTag, ImportBatch, Segment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path


def _builder_post(personas, **rows):
    data = {"talent": personas.talent.pk, "name": "West", "description": "", "match": "all"}
    data.update(rows)
    return data


def test_build_segment_preview_then_save(client, personas, crowd):
    client.force_login(personas.manager)
    url = reverse("admin:messaging_segment_add")
    rows = {
        "cond_0_field": "region",
        "cond_0_value": "CA",
        "cond_1_field": "source",
        "cond_1_value": "web",
        "cond_1_negate": "on",
    }
    response = client.post(url, {**_builder_post(personas, **rows), "_preview": "1"})
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview["count"] == 1 and preview["sample"] == [crowd["sf"]]
    assert not Segment.objects.filter(name="West").exists()  # a preview saves nothing
    assert b"Preview (not saved yet)" in response.content
    response = client.post(url, _builder_post(personas, **rows))
    assert response.status_code == 302, response.context["adminform"].form.errors
    seg = Segment.objects.get(name="West")
    assert seg.definition == {
        "all": [
            {"field": "region", "op": "in", "value": ["CA"]},
            {"not": {"field": "source", "op": "in", "value": ["web"]}},
        ]
    }
    change = client.get(reverse("admin:messaging_segment_change", args=[seg.pk]))
    assert change.context["preview"]["count"] == 1
    form = change.context["adminform"].form
    assert form.initial["cond_1_negate"] is True and form.initial["cond_0_value"] == "CA"


def test_builder_error_names_the_condition(client, personas):
    client.force_login(personas.manager)
    response = client.post(
        reverse("admin:messaging_segment_add"),
        _builder_post(personas, cond_0_field="country", cond_0_value="US", cond_1_field="age", cond_1_value="abc"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Condition 2" in errors["cond_1_value"][0]
    response = client.post(
        reverse("admin:messaging_segment_add"), _builder_post(personas, cond_0_field="list", cond_0_value="Nope")
    )
    assert "no contact list named 'Nope'" in response.context["adminform"].form.errors["cond_0_value"][0]
    assert not Segment.objects.filter(name="West").exists()


def test_builtin_all_cannot_be_deleted_or_changed_in_the_console(client, personas):
    client.force_login(personas.owner)
    seg = Segment.objects.get(talent=personas.talent, is_builtin=True)
    assert client.get(reverse("admin:messaging_segment_delete", args=[seg.pk])).status_code == 403
    response = client.post(
        reverse("admin:messaging_segment_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [seg.pk], "post": "yes"},
    )
    assert Segment.objects.filter(pk=seg.pk).exists()
    response = client.post(reverse("admin:messaging_segment_change", args=[seg.pk]), {"name": "renamed"})
    assert response.status_code == 403
    seg.refresh_from_db()
    assert seg.name == "all"


def test_add_to_list_action_on_the_fan_changelist(client, personas, crowd):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    client.force_login(personas.manager)
    url = reverse("admin:accounts_fan_changelist")
    picked = [crowd["sf"].pk, crowd["la"].pk]
    response = client.post(url, {"action": "add_to_contact_list", ACTION_CHECKBOX_NAME: picked})
    assert response.status_code == 200 and list(response.context["form"].fields["contact_list"].queryset) == [vip]
    response = client.post(
        url, {"action": "add_to_contact_list", ACTION_CHECKBOX_NAME: picked, "contact_list": vip.pk, "_apply": "1"}
    )
    assert response.status_code == 302
    assert set(vip.fans.all()) == {crowd["sf"], crowd["la"]}
    client.post(
        url, {"action": "add_to_contact_list", ACTION_CHECKBOX_NAME: picked, "new_list": "Fresh", "_apply": "1"}
    )
    assert ContactList.objects.get(talent=personas.talent, name="Fresh").fans.count() == 2
    client.post(
        url,
        {
            "action": "remove_from_contact_list",
            ACTION_CHECKBOX_NAME: [crowd["sf"].pk],
            "contact_list": vip.pk,
            "_apply": "1",
        },
    )
    assert set(vip.fans.all()) == {crowd["la"]}
    client.post(url, {"action": "tag_fans", ACTION_CHECKBOX_NAME: picked, "tag": "vip", "_apply": "1"})
    assert FanTag.objects.filter(tag__name="vip").count() == 2


def test_agent_cannot_use_list_actions(client, personas, crowd):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    client.force_login(personas.agent)
    client.post(
        reverse("admin:accounts_fan_changelist"),
        {
            "action": "add_to_contact_list",
            ACTION_CHECKBOX_NAME: [crowd["sf"].pk],
            "contact_list": vip.pk,
            "_apply": "1",
        },
    )
    assert not vip.fans.exists()


def test_list_csv_upload_page(client, personas, crowd):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    client.force_login(personas.manager)
    upload = SimpleUploadedFile("n.csv", b"phone\n+14155550201\n+19999999999\n", content_type="text/csv")
    response = client.post(
        reverse("admin:messaging_contactlist_upload", args=[vip.pk]),
        {"file": upload, "mode": "add", "default_region": "US"},
    )
    assert response.status_code == 200
    assert list(vip.fans.all()) == [crowd["sf"]]
    assert any("Line 3" in line for line in response.context["result_lines"])


EVIDENCE = {"consent_source": "Sheet", "consent_date": "2026-01-02", "default_region": "US"}


def _upload(client, personas, content: bytes, name="fans.csv", **fields):
    """Step one: the file is staged and previewed; nothing imports yet."""
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    before = ImportBatch.objects.count()
    response = client.post(
        reverse("admin:messaging_importbatch_add"), {"talent": personas.talent.pk, "file": upload, **fields}
    )
    assert response.status_code == 200 and ImportBatch.objects.count() == before
    return response


def _confirm(client, personas, staged: str, mapping: dict[int, str] | None = None, **fields):
    """Step two: the columns mapped, the consent confirmed (no file chosen again)."""
    data = {"talent": personas.talent.pk, "staged": staged, "consent_confirmed": "on", **EVIDENCE, **fields}
    for index, target in (mapping or {}).items():
        data[f"map_{index}"] = target
    return client.post(reverse("admin:messaging_importbatch_add"), data)


def _staged(response) -> str:
    return response.context["form"]["staged"].value()


def test_import_upload_with_downloadable_error_report(client, personas):
    client.force_login(personas.manager)
    response = _upload(client, personas, b"phone,first_name\n+14155550601,Ann\nnope,Bad\n", **EVIDENCE)
    preview = response.context["preview"]
    assert preview["header"] == ["phone", "first_name"] and preview["rows"][0] == ["+14155550601", "Ann"]
    form = response.context["form"]
    assert form["map_0"].value() == "phone" and form["map_1"].value() == "first_name"  # guessed
    response = _confirm(client, personas, _staged(response), {0: "phone", 1: "first_name"})
    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert batch.status == "completed" and batch.created_count == 1 and batch.error_count == 1
    report = client.get(reverse("admin:messaging_importbatch_errors", args=[batch.pk]))
    assert report["Content-Disposition"].startswith("attachment")
    assert report.content.decode().startswith("line,reason\n3,")
    assert client.get(reverse("admin:messaging_importbatch_change", args=[batch.pk])).status_code == 200


def test_import_columns_are_mapped_by_the_team(client, personas):
    client.force_login(personas.manager)
    content = b"Numero,Nick,Notes\n(415) 555-0621,Ann,met at the show\n"
    response = _upload(client, personas, content)
    assert response.context["form"]["map_0"].value() == ""  # no alias: nothing guessed
    response = _confirm(client, personas, _staged(response), {1: "first_name"})
    assert response.status_code == 200 and "choose which column holds the phone numbers" in response.content.decode()
    response = _confirm(client, personas, _staged(response), {0: "phone", 1: "first_name", 2: ""})
    assert response.status_code == 302
    fan = Fan.objects.get(talent=personas.talent, phone="+14155550621")
    assert fan.first_name == "Ann" and fan.source == "import"
    response = _upload(client, personas, content)
    response = _confirm(client, personas, _staged(response), {0: "first_name", 1: "first_name"})
    assert "Import refused" in response.content.decode()


def test_the_file_is_kept_after_a_form_error_and_consent_must_be_confirmed(client, personas):
    client.force_login(personas.manager)
    response = _upload(client, personas, b"phone\n+14155550601\n")
    staged = _staged(response)
    response = _confirm(client, personas, staged, {0: "phone"}, consent_confirmed="", consent_source="")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "consent_source" in errors and not ImportBatch.objects.exists()
    response = _confirm(client, personas, staged, {0: "phone"}, consent_confirmed="")
    assert "consent_confirmed" in response.context["form"].errors
    assert _staged(response) == staged and "kept on the server" in response.content.decode()
    # Same staged file, no new upload: it imports.
    assert _confirm(client, personas, staged, {0: "phone"}).status_code == 302
    assert Fan.objects.filter(phone="+14155550601").exists()
    # Gone once used: a replay has nothing to import.
    response = _confirm(client, personas, staged, {0: "phone"})
    assert response.status_code == 200 and ImportBatch.objects.count() == 1


def test_another_sessions_staged_file_cannot_be_used(client, personas):
    from django.test import Client

    client.force_login(personas.manager)
    staged = _staged(_upload(client, personas, b"phone\n+14155550601\n"))
    other = Client()
    other.force_login(personas.owner)
    response = _confirm(other, personas, staged, {0: "phone"})
    assert response.status_code == 200 and not ImportBatch.objects.exists()


def test_sample_csv_and_staged_sweep(client, personas, settings):
    import os
    import time

    from messaging.audience import import_staging

    client.force_login(personas.manager)
    sample = client.get(reverse("admin:messaging_importbatch_sample"))
    assert sample["Content-Disposition"].startswith("attachment") and sample.content.startswith(b"phone,")
    staged = _staged(_upload(client, personas, b"phone\n+14155550601\n"))
    path = settings.MEDIA_ROOT / import_staging.STAGED_DIR / str(personas.talent.pk) / f"{staged}.csv"
    assert path.exists()
    assert import_staging.staged_sweep() == 0
    old = time.time() - import_staging.STAGED_MAX_AGE - 60
    os.utime(path, (old, old))
    assert import_staging.staged_sweep() == 1 and not path.exists()


def test_import_upload_too_big_is_refused(client, personas, settings):
    client.force_login(personas.manager)
    settings.AUDIENCE_IMPORT_MAX_BYTES = 10
    upload = SimpleUploadedFile("fans.csv", b"phone\n+14155550601\n", content_type="text/csv")
    response = client.post(
        reverse("admin:messaging_importbatch_add"), {"talent": personas.talent.pk, "file": upload, **EVIDENCE}
    )
    assert "larger than" in response.context["form"].errors["file"][0]
    assert not ImportBatch.objects.exists() and not Fan.objects.filter(phone="+14155550601").exists()


def test_export_page_streams_for_analyst_and_refuses_manager(client, personas, crowd):
    seg = Segment.objects.get(talent=personas.talent, is_builtin=True)
    url = reverse("admin:messaging_segment_export", args=[seg.pk])
    client.force_login(personas.manager)
    assert client.get(url).status_code == 403
    client.force_login(personas.analyst)
    page = client.get(url)
    assert page.status_code == 200
    active = Fan.objects.filter(talent=personas.talent, status="active").count()
    # The row count before anything downloads.
    assert f"{active:,} reachable fans" in page.content.decode() and "1 opted out" in page.content.decode()
    from consent.models import Partner

    form = {"columns": ["phone", "first_name"], "file_format": "csv", "for_partner": "on"}
    unnamed = client.post(url, form)
    assert unnamed.status_code == 200 and b"Pick the partner this file is for" in unnamed.content
    tourly = Partner.objects.create(talent=personas.talent, name="Tourly", purpose="presales")
    # With a partner to pick, the page also counts the rows of a partner export.
    shared = Fan.objects.filter(talent=personas.talent, status="active", shares_with_partners=True).count()
    assert f"{shared:,} of them agreed to share with partners" in client.get(url).content.decode()
    response = client.post(url, {**form, "partner": tourly.pk})
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == ["phone,first_name", f"+14155550201,{crowd['sf'].first_name}"]
    partner_row = ExportAudit.objects.get()
    assert (partner_row.row_count, partner_row.partner, partner_row.audience) == (1, tourly, "reachable")
    # Opted-out fans: only with a stated purpose, which the export log keeps, and never for a partner.
    refused = client.post(url, {"audience": "opted_out", "columns": ["phone"], "file_format": "csv"})
    assert not refused.streaming and "Say why" in refused.content.decode()
    for_tourly = client.post(
        url,
        {"audience": "opted_out", "purpose": "suppression list", "partner": tourly.pk, **form, "columns": ["phone"]},
    )
    assert not for_tourly.streaming and "never exported for a partner" in for_tourly.content.decode()
    assert ExportAudit.objects.count() == 1
    response = client.post(
        url, {"audience": "opted_out", "purpose": "suppression list", "columns": ["phone"], "file_format": "csv"}
    )
    assert b"".join(response.streaming_content).decode().splitlines() == ["phone", str(crowd["optout"].phone)]
    assert ExportAudit.objects.filter(audience="opted_out", purpose="suppression list").count() == 1
    other = Segment.objects.get(talent=personas.other_talent, is_builtin=True)
    assert client.get(reverse("admin:messaging_segment_export", args=[other.pk])).status_code == 404


def test_live_count_follows_the_conditions(client, personas, crowd):
    client.force_login(personas.manager)
    url = reverse("admin:messaging_segment_live_count")
    response = client.post(url, _builder_post(personas, name="", cond_0_field="postal_code", cond_0_value="941"))
    # Two fans match 941*, one of them texted STOP: the count is the reachable one, the breakdown says why.
    assert response.status_code == 200 and response.json()["count"] == 1
    body = response.json()
    assert (body["active"], body["opted_out"], body["pending"], body["total"]) == (1, 1, 0, 2)
    assert body["rules"] == "Postal code starts with 941"
    response = client.post(url, _builder_post(personas, cond_0_field="age", cond_0_value="old"))
    assert response.status_code == 400 and "Condition 1" in response.json()["error"]
    client.force_login(personas.agent)
    assert client.post(url, _builder_post(personas, cond_0_field="country", cond_0_value="US")).status_code == 403


@pytest.mark.parametrize("name", ["segment", "contactlist", "tag", "importbatch", "exportaudit"])
def test_audience_console_pages_render(client, personas, crowd, name):
    client.force_login(personas.owner)
    assert client.get(reverse(f"admin:messaging_{name}_changelist")).status_code == 200
    add = client.get(reverse(f"admin:messaging_{name}_add"))
    assert add.status_code in (200, 403)


def test_builtin_segment_page_shows_count_read_only(client, personas, crowd):
    client.force_login(personas.owner)
    seg = Segment.objects.get(talent=personas.talent, is_builtin=True)
    response = client.get(reverse("admin:messaging_segment_change", args=[seg.pk]))
    assert response.status_code == 200
    assert response.context["preview"]["count"] == Fan.objects.filter(talent=personas.talent, status="active").count()
    assert b"cannot be changed or deleted" in response.content


def test_nested_definition_is_kept_when_only_the_name_changes(client, personas, crowd):
    nested = {
        "any": [
            {"all": [{"field": "region", "op": "in", "value": ["CA"]}]},
            {"field": "country", "op": "in", "value": ["CA"]},
        ]
    }
    seg = Segment.objects.create(talent=personas.talent, name="Nested", definition=nested)
    client.force_login(personas.manager)
    url = reverse("admin:messaging_segment_change", args=[seg.pk])
    assert b"nested groups" in client.get(url).content
    response = client.post(url, {"name": "Nested 2", "description": "", "match": "all"})
    assert response.status_code == 302
    seg.refresh_from_db()
    assert seg.name == "Nested 2" and seg.definition == nested


def test_a_big_import_runs_in_the_background(client, personas, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    settings.AUDIENCE_IMPORT_INLINE_MAX_BYTES = 10
    client.force_login(personas.manager)
    staged = _staged(_upload(client, personas, b"phone,first_name\n+14155550611,Ann\n"))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = _confirm(client, personas, staged, {0: "phone", 1: "first_name"})
        response = client.get(response["Location"])
    batch = ImportBatch.objects.get()
    assert batch.status == "pending"
    assert "importing in the background" in response.content.decode()
    for callback in queued:
        callback()
    batch.refresh_from_db()
    assert batch.status == "completed" and batch.created_count == 1


def test_segment_list_shows_reachable_size_and_names_not_ids(client, personas, crowd):
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    vip.memberships.create(fan=crowd["sf"])
    vip.memberships.create(fan=crowd["optout"])
    Segment.objects.create(
        talent=personas.talent, name="VIPs", definition={"field": "list", "op": "in", "value": [vip.pk]}
    )
    client.force_login(personas.manager)
    response = client.get(reverse("admin:messaging_segment_changelist"))
    html = response.content.decode()
    assert "Reachable fans" in html and "In contact list is one of VIP" in html
    row = next(r for r in response.context["cl"].result_list if r.name == "VIPs")
    admin_obj = response.context["cl"].model_admin
    assert admin_obj.size(row) == "1"  # two members, one texted STOP
