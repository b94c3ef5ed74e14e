"""Ask less (issue 15, section 1): the talent picks the signup fields; the default asks three; the
form is accessible without script; the done page survives a reload; /me/ reads like a phone."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts import phones
from accounts.admin import TalentForm
from accounts.models import Fan, PendingSignup
from accounts.profile import PROFILE, default_ask, signup_spec
from accounts.tokens import join_tokens, self_service_tokens
from consent import texts
from consent.models import ConsentRecord
from tests.accounts.join_support import committing, join_url, open_data_link, publish_documents

pytestmark = pytest.mark.django_db
PHONE = "+14155552671"


@pytest.fixture
def docs(personas):
    return publish_documents(personas.talent)


def _link(talent, phone=PHONE):
    return join_url(talent) + "?t=" + join_tokens.make_token(talent=talent, phone=phone)


def _minimal(docs, **extra) -> dict:
    terms, privacy = docs
    data = {
        "first_name": "Rosa",
        "birth_date": "1999-04-02",
        "postal_code": "94607",
        "consent_messaging": "on",
        "terms_version": str(terms.version),
        "privacy_version": str(privacy.version),
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def _names(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|select)[^>]* name="([a-z_]+)"', html)) - {"csrfmiddlewaretoken"}


def test_the_default_form_asks_first_name_birth_date_and_postal_code_each_with_why(client, personas, docs):
    html = client.get(_link(personas.talent)).content.decode()
    asked = _names(html) - {"terms_version", "privacy_version", "consent_messaging", "consent_sharing"}
    assert asked == {"first_name", "birth_date", "postal_code", "time_zone"}
    for spec in signup_spec({}):
        assert spec.why.replace("'", "&#x27;") in html, spec.name
    assert re.search(r'<input[^>]*name="first_name"[^>]*required', html)
    assert not re.search(r'<input[^>]*name="postal_code"[^>]*required', html)  # optional, says so
    # The sharing box names only what is asked, and the partners page.
    assert texts.sharing_disclosure(personas.talent).startswith(
        "Share my profile (first name, birth date, postal code)"
    )


def test_a_default_signup_stores_what_was_asked_and_works_out_the_rest(client, personas, docs, sms_outbox):
    response = committing(client.post, _link(personas.talent), _minimal(docs))
    assert response.status_code == 302
    fan = Fan.objects.get(phone=PHONE)
    assert (fan.first_name, fan.birth_date, fan.postal_code) == ("Rosa", dt.date(1999, 4, 2), "94607")
    assert fan.last_name == "" and fan.email == "" and fan.city == ""
    assert fan.country == "US"  # from the number, not asked
    assert fan.time_zone == "America/Los_Angeles"  # automatic: ZIP 9xxxx
    assert ConsentRecord.objects.filter(fan=fan).count() == 2


def test_the_birth_date_stays_required_for_the_age_gate(client, personas, docs):
    response = committing(client.post, _link(personas.talent), _minimal(docs, birth_date=None))
    assert response.status_code == 400 and not Fan.objects.filter(phone=PHONE).exists()
    form = TalentForm(data={**model_to_dict(personas.talent), "ask_birth_date": "off"}, instance=personas.talent)
    assert not form.is_valid()


def test_the_talent_chooses_fields_and_which_are_required(client, personas, docs):
    data = {k: v for k, v in model_to_dict(personas.talent).items() if v is not None}
    data.update({f"ask_{spec.name}": default_ask(spec) for spec in PROFILE})
    form = TalentForm(
        data={**data, "ask_email": "required", "ask_first_name": "off", "ask_birth_date": "required"},
        instance=personas.talent,
    )
    assert form.is_valid(), form.errors
    form.save()
    personas.talent.refresh_from_db()
    assert personas.talent.signup_fields["email"] == "required" and personas.talent.signup_fields["first_name"] == "off"
    html = client.get(_link(personas.talent)).content.decode()
    assert "email" in _names(html) and "first_name" not in _names(html)
    assert re.search(r'<input[^>]*name="email"[^>]*required', html)
    missing = committing(client.post, _link(personas.talent), _minimal(docs))
    assert missing.status_code == 400 and b"This field is required" in missing.content


def test_the_owner_sees_the_choices_on_the_talent_page(client, personas):
    client.force_login(personas.owner)
    page = client.get(f"/admin/accounts/talent/{personas.talent.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Signup form: what fans are asked" in html and 'name="ask_email"' in html
    assert "Keep message texts (days)" in html and 'name="partners-TOTAL_FORMS"' in html


def test_the_country_list_shows_names_only(client, personas, docs):
    choices = phones.country_choices()
    assert all(code != name and len(name) > 3 for code, name in choices)
    assert choices[0] == ("AF", "Afghanistan") and ("XK", "Kosovo") in choices
    personas.talent.signup_fields = {"country": "required"}
    personas.talent.served_countries = ""  # every country (new talents serve their sender's only)
    personas.talent.save()
    html = client.get(_link(personas.talent)).content.decode()
    select = re.search(r'<select[^>]*name="country".*?</select>', html, re.S).group(0)
    assert ">XK<" not in select and ">AC<" not in select and ">Kosovo<" in select


def test_the_time_zone_is_automatic_with_a_short_list_behind_change(client, personas, docs):
    html = client.get(_link(personas.talent)).content.decode()
    details = re.search(r'<details class="zone">.*?</details>', html, re.S).group(0)
    assert "Time zone: <strong>Automatic</strong>" in details and "(change)" in details
    options = re.findall(r"<option value=\"([^\"]*)\"", details)
    assert len(set(options)) < 350  # not the 519 names of the whole tz database
    for obsolete in ("US/Pacific", "Asia/Calcutta", "US/Pacific-New", "Etc/GMT+5"):
        assert obsolete not in options
    assert options.index("America/Los_Angeles") < options.index("Europe/London")  # the number's country first


def test_after_a_failed_submit_the_first_error_has_focus_and_every_error_its_field(client, personas, docs):
    response = committing(client.post, _link(personas.talent), _minimal(docs, first_name="", consent_messaging=None))
    assert response.status_code == 400
    html = response.content.decode()
    first = re.search(r'<input[^>]*name="first_name"[^>]*>', html).group(0)
    assert "autofocus" in first and 'aria-invalid="true"' in first
    assert re.search(r'aria-describedby="[^"]*id_first_name_error', first)
    assert 'id="id_first_name_error"' in html
    box = re.search(r'<input type="checkbox" name="consent_messaging"[^>]*>', html).group(0)
    assert "id_consent_messaging_error" in box and 'aria-invalid="true"' in box and "autofocus" not in box
    assert 'id="id_consent_messaging_error"' in html
    assert len(re.findall(r"\bautofocus\b", html)) == 1
    # Alone, the consent box is the first error: it gets the focus.
    only_box = committing(client.post, _link(personas.talent), _minimal(docs, consent_messaging=None)).content.decode()
    box = re.search(r'<input type="checkbox" name="consent_messaging"[^>]*>', only_box).group(0)
    assert "autofocus" in box


def test_a_typed_number_waits_in_a_table_that_expires_not_in_the_session(client, personas, docs, sms_outbox):
    response = committing(client.post, join_url(personas.talent), _minimal(docs, phone="(415) 555-2671"))
    assert response.status_code == 302
    pending = PendingSignup.objects.get()
    assert pending.phone == PHONE and pending.data["profile"]["first_name"] == "Rosa"
    assert pending.expires_at <= timezone.now() + dt.timedelta(hours=1)
    session = client.session["join_pending"]
    assert set(session) == {"id", "secret", "talent"} and PHONE not in str(session) and "Rosa" not in str(session)
    # Gone once it expires: the task (and the code page) delete it; the page says why.
    PendingSignup.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    from messaging.tasks import expire_pending_signups

    assert expire_pending_signups() == 1 and not PendingSignup.objects.exists()
    again = client.get(f"/join/{personas.talent.slug}/verify/")
    assert again.status_code == 400 and b"expired" in again.content.lower()


def test_another_sessions_secret_cannot_use_a_pending_signup(client, personas, docs, sms_outbox):
    committing(client.post, join_url(personas.talent), _minimal(docs, phone="(415) 555-2671"))
    session = client.session
    session["join_pending"] = {**session["join_pending"], "secret": "guessed"}
    session.save()
    assert client.get(f"/join/{personas.talent.slug}/verify/").status_code == 400
    assert not Fan.objects.filter(phone=PHONE).exists()


def test_me_shows_the_number_formatted_and_times_in_the_fans_zone(client, personas):
    fan = personas.fan  # America/Los_Angeles
    ConsentRecord.objects.create(
        fan=fan, talent=personas.talent, purpose="messaging", action="granted", method="web_form"
    )
    ConsentRecord.objects.filter(fan=fan).update(created_at=dt.datetime(2026, 1, 15, 20, 30, tzinfo=dt.UTC))
    page = open_data_link(client, "/me/?t=" + self_service_tokens.make_token(fan=fan)).content.decode()
    assert "Number: <strong>+1 415-555-0101</strong>" in page
    assert "2026-01-15 12:30 PST" in page and "20:30 UTC" not in page
    assert "America/Los_Angeles" in page
