"""The console pages of the welcome series and date messages: forms, buttons, scoping, roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging.models import DateMessage, WelcomeSeries, WelcomeStep
from tests.messaging.automations.support import live_series

pytestmark = pytest.mark.django_db
ADD = "admin:messaging_welcomeseries_add"


def _series_form(*steps: dict, name: str = "Hello") -> dict:
    data = {
        "name": name,
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "5",
    }
    for i, step in enumerate(steps):
        for key, value in step.items():
            data[f"steps-{i}-{key}"] = value
    return data


def _step(position: int, wait: int, unit: str, body: str) -> dict:
    return {"position": str(position), "wait": str(wait), "unit": unit, "body": body}


def test_a_manager_writes_a_two_step_series_and_it_goes_live(client, personas):
    client.force_login(personas.manager)
    response = client.post(
        reverse(ADD), _series_form(_step(1, 10, "minutes", "Welcome {first_name}!"), _step(2, 2, "days", "Day two"))
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    series = WelcomeSeries.objects.get(name="Hello")
    assert series.talent == personas.talent and series.status == "draft"
    assert list(series.steps.values_list("position", "delay_minutes")) == [(1, 10), (2, 2 * 24 * 60)]
    page = client.get(reverse("admin:messaging_welcomeseries_change", args=[series.pk])).content.decode()
    assert "Go live" in page and "Cancel for everyone" in page
    client.post(reverse("admin:messaging_welcomeseries_action", args=[series.pk, "go_live"]))
    series.refresh_from_db()
    assert series.status == "live" and series.live_since is not None
    assert client.get(reverse("admin:messaging_welcomeseries_report", args=[series.pk])).status_code == 200


def test_bad_steps_are_form_errors_not_500s(client, personas):
    client.force_login(personas.manager)
    too_long = client.post(reverse(ADD), _series_form(_step(1, 8, "days", "Hi")))
    assert too_long.status_code == 200 and "at most 7 days" in too_long.content.decode()
    bad_field = client.post(reverse(ADD), _series_form(_step(1, 1, "hours", "Hi {frist_name}")))
    assert bad_field.status_code == 200 and "frist_name" in bad_field.content.decode()
    twice = client.post(reverse(ADD), _series_form(_step(1, 1, "hours", "A"), _step(1, 2, "hours", "B")))
    assert twice.status_code == 200 and "same number" in twice.content.decode()
    assert not WelcomeSeries.objects.exists()


def test_going_live_twice_is_a_clear_message(client, personas):
    live_series(personas, (10, "One"))
    second = WelcomeSeries.objects.create(talent=personas.talent, name="Second")
    WelcomeStep.objects.create(series=second, position=1, delay_minutes=10, body="x")
    client.force_login(personas.manager)
    response = client.post(reverse("admin:messaging_welcomeseries_action", args=[second.pk, "go_live"]), follow=True)
    assert "Another welcome series is live" in response.content.decode()


def test_another_talents_automation_is_a_404_and_an_agent_cannot_change_one(client, personas):
    series = live_series(personas, (10, "One"))
    client.force_login(personas.other_manager)
    assert client.get(reverse("admin:messaging_welcomeseries_change", args=[series.pk])).status_code == 404
    assert client.post(reverse("admin:messaging_welcomeseries_action", args=[series.pk, "pause"])).status_code == 404
    assert client.get(reverse("admin:messaging_welcomeseries_report", args=[series.pk])).status_code == 404
    client.force_login(personas.agent)
    client.post(reverse("admin:messaging_welcomeseries_action", args=[series.pk, "pause"]))
    series.refresh_from_db()
    assert series.status == "live"
    assert client.post(reverse(ADD), _series_form(_step(1, 1, "hours", "x"))).status_code == 403


def test_the_next_24_hours_page_and_the_menu(client, personas):
    live_series(personas, (10, "One"))
    client.force_login(personas.analyst)
    page = client.get(reverse("admin:messaging_upcomingautomation_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Automated texts due in the next 24 hours" in html and personas.talent.default_time_zone in html
    home = client.get(reverse("admin:index")).content.decode()
    assert "Automations" in home and "Welcome series" in home and "Next 24 hours" in home


def test_a_date_message_needs_its_days_and_shows_the_birthday_rule(client, personas):
    client.force_login(personas.manager)
    data = {"name": "Thirty days", "kind": "days_after_join", "days": "", "local_time": "10:00", "body": "Hi"}
    response = client.post(reverse("admin:messaging_datemessage_add"), data)
    assert response.status_code == 200 and "how many days" in response.content.decode()
    data["days"] = "30"
    assert client.post(reverse("admin:messaging_datemessage_add"), data).status_code == 302
    message = DateMessage.objects.get()
    page = client.get(reverse("admin:messaging_datemessage_change", args=[message.pk])).content.decode()
    assert "fans who joined before were never told" in page
