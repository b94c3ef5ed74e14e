"""Campaign images are public (Twilio fetches MediaUrl); import files in MEDIA_ROOT never are."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_uploaded_campaign_image_is_served_at_its_media_url(client, personas, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    campaign = create_campaign(personas.talent)
    campaign.media_file.save("poster.png", ContentFile(PNG))
    path = campaign.media.removeprefix(settings.PUBLIC_BASE_URL)
    assert path.startswith("/media/campaign-media/")
    response = client.get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG


def test_import_files_are_not_served(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "imports").mkdir()
    (tmp_path / "imports" / "fans.csv").write_text("phone\n+14155550101\n")
    assert client.get("/media/imports/fans.csv").status_code == 404
    client.raise_request_exception = False
    assert client.get("/media/campaign-media/../imports/fans.csv").status_code in (400, 404)
    assert client.get("/media/campaign-media/%2e%2e/imports/fans.csv").status_code in (400, 404)
