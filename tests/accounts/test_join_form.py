"""/join/<talent>/: the signup form, its link token, the phone code, consent records, bad input."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, Fan
from accounts.tokens import join_tokens
from consent.models import ConsentRecord
from consent.services import terms_publish
from messaging.models import OutboundMessage
from tests.accounts.join_support import (
    ASK_EVERYTHING,
    committing,
    join_url,
    link_in,
    open_data_link,
    publish_documents,
    signup_data,
    text_in,
)
from tests.factories import create_fan, create_talent

pytestmark = pytest.mark.django_db
PHONE = "+14155552671"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)"


# These tests use a talent that asks the whole profile (what every form asked before issue 15);
# the default form (first name, birth date, postal code) is tested in test_ask_less.py.


@pytest.fixture
def docs(personas):
    personas.talent.signup_fields = ASK_EVERYTHING
    personas.talent.save()
    return publish_documents(personas.talent)


def _link(talent, phone=PHONE, **kwargs):
    return join_url(talent) + "?t=" + join_tokens.make_token(talent=talent, phone=phone, **kwargs)


def _post(client, url, data):
    return committing(client.post, url, data, HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.7")


def _nothing_stored(phone=PHONE):
    assert not Fan.objects.filter(phone=phone).exists()
    assert ConsentRecord.objects.count() == 0


def test_link_page_locks_the_phone_and_shows_both_documents(client, personas, docs):
    terms, privacy = docs
    response = client.get(_link(personas.talent))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="phone"' not in html
    assert "+1 415-555-2671" in html
    assert "Be kind; we text you." in html and "We never sell your data." in html
    assert f"/terms/{personas.talent.slug}/terms/v1/" in html and f"/terms/{personas.talent.slug}/privacy/v1/" in html
    for box in ("consent_messaging", "consent_sharing"):
        tag = re.search(rf'<input type="checkbox" name="{box}"[^>]*>', html).group(0)
        assert "checked" not in tag
    assert "Msg &amp; data rates may apply" in html and "Reply STOP to cancel, HELP for help" in html
    assert personas.talent.program_name in html and personas.talent.message_frequency in html
    assert response.context["form"].initial["country"] == "US"
    assert '<option value="US" selected>United States</option>' in html
    assert '<option value="" selected>Automatic</option>' in html
    assert 'aria-describedby="id_time_zone_helptext"' in html and 'id="id_time_zone_helptext"' in html


def test_full_text_of_each_version_is_a_click_away(client, personas, docs):
    response = client.get(f"/terms/{personas.talent.slug}/privacy/v1/")
    assert response.status_code == 200
    assert b"Full text of the document." in response.content
    assert client.get(f"/terms/{personas.talent.slug}/privacy/v9/").status_code == 404


def test_signup_through_the_link(client, personas, docs, sms_outbox):
    terms, privacy = docs
    response = _post(client, _link(personas.talent), signup_data(terms, privacy))
    assert response.status_code == 302
    assert response["Location"] == f"/join/{personas.talent.slug}/done/"
    fan = Fan.objects.get(talent=personas.talent, phone=PHONE)
    assert fan.status == Fan.Status.ACTIVE and fan.source == Fan.Source.WEB
    assert (fan.first_name, fan.last_name, fan.email, fan.city, fan.region, fan.postal_code, fan.country) == (
        "Rosa",
        "Diaz",
        "rosa@example.com",
        "Oakland",
        "CA",
        "94607",
        "US",
    )
    assert fan.birth_date == dt.date(1999, 4, 2)
    assert fan.time_zone == "America/Los_Angeles"
    assert fan.joined_at is not None and not fan.shares_with_partners
    records = {r.purpose: r for r in ConsentRecord.objects.filter(fan=fan)}
    assert set(records) == {"messaging", "partner_sharing"}
    assert records["messaging"].action == "granted" and records["partner_sharing"].action == "declined"
    for record in records.values():
        assert record.terms == terms and record.privacy == privacy
        assert record.method == "web_form" and record.ip_address == "203.0.113.7" and record.user_agent == UA
        assert record.created_at is not None
    assert "Msg & data rates may apply" in records["messaging"].disclosure
    # After commit: the confirmation text.
    assert len(sms_outbox) == 1
    text = sms_outbox[0].body
    assert sms_outbox[0].to == PHONE
    for fact in [
        personas.talent.program_name,
        personas.talent.message_frequency,
        "Msg & data rates may apply",
        "HELP",
        "STOP",
    ]:
        assert fact in text
    assert OutboundMessage.objects.get(fan=fan).status == "queued"
    done = client.get(response["Location"])
    assert done.status_code == 200
    assert b"What happens next" in done.content and b"/me/?t=" in done.content
    assert b"America/Los_Angeles" in done.content
    assert AuditEvent.objects.filter(action="fan.signed_up", object_id=str(fan.pk)).exists()


def test_ticked_sharing_is_recorded(client, personas, docs):
    _post(client, _link(personas.talent), signup_data(*docs, consent_sharing="on"))
    fan = Fan.objects.get(phone=PHONE)
    assert fan.shares_with_partners
    assert ConsentRecord.objects.get(fan=fan, purpose="partner_sharing").action == "granted"


def test_a_phone_posted_with_a_link_is_ignored(client, personas, docs):
    _post(client, _link(personas.talent), signup_data(*docs, phone="+14155559999"))
    assert Fan.objects.filter(phone=PHONE).exists()
    assert not Fan.objects.filter(phone="+14155559999").exists()


def test_a_used_link_cannot_be_replayed(client, personas, docs):
    link = _link(personas.talent)
    assert _post(client, link, signup_data(*docs)).status_code == 302
    again = _post(client, link, signup_data(*docs, first_name="Mallory"))
    assert again.status_code == 400
    assert b"no longer works" in again.content
    assert Fan.objects.get(phone=PHONE).first_name == "Rosa"
    assert client.get(link).status_code == 400


def test_tampered_and_expired_links_are_refused(client, personas, docs):
    token = join_tokens.make_token(talent=personas.talent, phone=PHONE)
    other = join_tokens.make_token(talent=personas.talent, phone="+14155552672")
    old = join_tokens.make_token(talent=personas.talent, phone=PHONE, timestamp=int(time.time()) - 3 * 24 * 3600)

    def flip(text: str, at: int) -> str:
        return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]

    for bad in [
        token[:8] + other[8:],  # another number's sealed subject under this salt
        flip(token, 10),  # the sealed subject
        flip(token, 30),  # the tag
        token[:-1],
        "garbage",
        old,
        "a-b-c-d",
        "x" * 500,
    ]:
        response = client.get(join_url(personas.talent) + "?t=" + bad)
        assert response.status_code == 400, bad
        assert _post(client, join_url(personas.talent) + "?t=" + bad, signup_data(*docs)).status_code == 400
    other_talent_link = join_url(personas.other_talent) + "?t=" + token
    publish_documents(personas.other_talent)
    assert client.get(other_talent_link).status_code == 400
    _nothing_stored()


def test_the_same_phone_signing_up_again_updates_the_same_fan(client, personas, docs, sms_outbox):
    _post(client, _link(personas.talent), signup_data(*docs))
    fan = Fan.objects.get(phone=PHONE)
    joined = fan.joined_at
    _post(client, _link(personas.talent), signup_data(*docs, city="Berkeley", consent_sharing="on"))
    assert Fan.objects.filter(talent=personas.talent, phone=PHONE).count() == 1
    fan.refresh_from_db()
    assert fan.city == "Berkeley" and fan.shares_with_partners and fan.joined_at == joined
    assert ConsentRecord.objects.filter(fan=fan).count() == 4


def test_pending_fan_from_a_text_becomes_active(client, personas, docs, sms_outbox):
    text_in(client, personas.talent, "hi", PHONE)
    link = link_in(sms_outbox[0].body)
    assert _post(client, link, signup_data(*docs)).status_code == 302
    fan = Fan.objects.get(phone=PHONE)
    assert fan.status == Fan.Status.ACTIVE and fan.source == Fan.Source.SMS


def test_missing_required_consent_stores_nothing(client, personas, docs, sms_outbox):
    response = _post(client, _link(personas.talent), signup_data(*docs, consent_messaging=None, consent_sharing="on"))
    assert response.status_code == 400
    assert b"Tick this box" in response.content
    _nothing_stored()
    assert sms_outbox == []


@pytest.mark.parametrize("years", [5, 12])
def test_under_age_is_refused_kindly_and_nothing_is_stored(client, personas, docs, sms_outbox, years):
    born = timezone.localdate() - dt.timedelta(days=365 * years)
    response = _post(client, _link(personas.talent), signup_data(*docs, birth_date=born.isoformat()))
    assert response.status_code == 403
    assert b"aged 13 and over" in response.content and b"not kept anything" in response.content
    _nothing_stored()
    assert sms_outbox == []


def test_exactly_the_minimum_age_may_join(client, personas, docs):
    today = timezone.localdate()
    born = (
        today.replace(year=today.year - 13)
        if not (today.month == 2 and today.day == 29)
        else dt.date(today.year - 13, 2, 28)
    )
    assert _post(client, _link(personas.talent), signup_data(*docs, birth_date=born.isoformat())).status_code == 302


def test_talent_minimum_age_is_respected(client, docs, personas):
    personas.talent.min_age = 18
    personas.talent.save()
    born = timezone.localdate() - dt.timedelta(days=365 * 16)
    assert _post(client, _link(personas.talent), signup_data(*docs, birth_date=born.isoformat())).status_code == 403
    _nothing_stored()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birth_date", "2999-01-01", b"cannot be in the future"),
        ("birth_date", "1800-01-01", b"check the year"),
        ("birth_date", "02/04/1999", b"YYYY-MM-DD"),
        ("first_name", "x" * 81, b"at most 80 characters"),
        ("city", "y" * 5000, b"at most 100 characters"),
        ("postal_code", "1" * 21, b"at most 20 characters"),
        ("email", "not-an-email", b"valid email"),
        ("country", "ZZ", b"Select a valid choice"),
        ("first_name", "", b"This field is required"),
        ("time_zone", "Mars/Olympus", b"Select a valid choice"),
    ],
)
def test_bad_fields_show_an_error_and_store_nothing(client, personas, docs, field, value, message):
    response = _post(client, _link(personas.talent), signup_data(*docs, **{field: value}))
    assert response.status_code == 400
    assert message in response.content
    _nothing_stored()


def test_a_country_the_talent_does_not_serve(client, personas, docs):
    personas.talent.served_countries = "US,CA"
    personas.talent.save()
    response = _post(client, _link(personas.talent), signup_data(*docs, country="FR"))
    assert response.status_code == 400
    _nothing_stored()
    # A number from an unserved country is refused too, even with a link.
    response = _post(client, _link(personas.talent, "+33612345678"), signup_data(*docs))
    assert response.status_code == 400
    assert b"does not text numbers from that country" in response.content
    assert not Fan.objects.filter(phone="+33612345678").exists()


def test_html_in_names_is_escaped_everywhere(client, personas, docs):
    evil = '<script>alert("x")</script>'
    _post(client, _link(personas.talent), signup_data(*docs, first_name=evil))
    fan = Fan.objects.get(phone=PHONE)
    assert fan.first_name == evil  # stored as typed ...
    done = client.get(f"/join/{personas.talent.slug}/done/").content.decode()
    assert evil not in done and "&lt;script&gt;" in done  # ... and escaped when shown
    me = open_data_link(client, re.search(r'href="(/me/\?t=[^"]+)"', done).group(1))
    assert evil not in me.content.decode() and "&lt;script&gt;" in me.content.decode()
    personas.superuser  # noqa: B018
    client.force_login(personas.superuser)
    admin_html = client.get(f"/admin/accounts/fan/{fan.pk}/change/").content.decode()
    assert evil not in admin_html


def test_unknown_or_inactive_talent_is_404(client, personas, docs):
    assert client.get("/join/nobody/").status_code == 404
    personas.talent.is_active = False
    personas.talent.save()
    assert client.get(_link(personas.talent)).status_code == 404
    assert _post(client, _link(personas.talent), signup_data(*docs)).status_code == 404
    _nothing_stored()


def test_without_published_terms_signup_is_closed(client):
    talent = create_talent("closed")
    response = client.get(join_url(talent))
    assert response.status_code == 503


def test_platform_wide_documents_are_used_when_the_talent_has_none(client, personas):
    terms, privacy = publish_documents(None)
    response = _post(client, _link(personas.talent), signup_data(terms, privacy))
    assert response.status_code == 302
    record = ConsentRecord.objects.get(purpose="messaging")
    assert record.terms == terms and record.terms.talent is None


def test_a_version_published_while_the_fan_reads_is_shown_before_consent(client, personas, docs):
    terms_v1, privacy_v1 = docs
    page = client.get(_link(personas.talent))
    assert b'name="terms_version" value="1"' in page.content
    terms_v2, _ = terms_publish(
        talent=personas.talent, kind="terms", title="Terms v2", summary="New partners.", body="b"
    )
    link = _link(personas.talent)
    again = _post(client, link, signup_data(terms_v1, privacy_v1))
    assert again.status_code == 400
    assert b"terms were updated while you were reading" in again.content
    assert b"New partners." in again.content and b'name="terms_version" value="2"' in again.content
    _nothing_stored()
    assert _post(client, link, signup_data(terms_v2, privacy_v1)).status_code == 302
    record = ConsentRecord.objects.get(purpose="messaging")
    assert record.terms == terms_v2 and record.privacy == privacy_v1
    # The old version stays readable at its own address.
    assert client.get(f"/terms/{personas.talent.slug}/terms/v1/").status_code == 200


def test_time_zone_is_guessed_from_region_and_postal_code_and_editable(client, personas, docs):
    _post(client, _link(personas.talent), signup_data(*docs, region="NY", postal_code="10001", city="New York"))
    assert Fan.objects.get(phone=PHONE).time_zone == "America/New_York"
    _post(client, _link(personas.talent, "+14155552672"), signup_data(*docs, time_zone="Europe/Lisbon"))
    assert Fan.objects.get(phone="+14155552672").time_zone == "Europe/Lisbon"


def test_country_defaults_from_the_number(client, personas, docs):
    response = client.get(_link(personas.talent, "+33612345678"))
    assert response.context["form"].initial["country"] == "FR"
    form = response.context["form"]
    assert form.zone_guess == "Europe/Paris"
    assert form.fields["time_zone"].choices[1] == ("France", [("Europe/Paris", "Europe / Paris")])


# --- A typed phone is proven by a code before anything is stored ------------------------------


def _code_from(outbox) -> str:
    return re.search(r"code is (\d{6})", outbox[-1].body).group(1)


def test_typed_phone_is_proven_by_a_code(client, personas, docs, sms_outbox):
    response = _post(client, join_url(personas.talent), signup_data(*docs, phone="(415) 555-2671"))
    assert response.status_code == 302 and response["Location"].endswith("/verify/")
    _nothing_stored()
    assert len(sms_outbox) == 1 and sms_outbox[0].to == PHONE
    code = _code_from(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    bad = _post(client, f"/join/{personas.talent.slug}/verify/", {"code": wrong})
    assert bad.status_code == 400 and b"not right" in bad.content
    _nothing_stored()
    good = _post(client, f"/join/{personas.talent.slug}/verify/", {"code": code})
    assert good.status_code == 302 and good["Location"].endswith("/done/")
    fan = Fan.objects.get(phone=PHONE)
    assert fan.status == "active"
    assert ConsentRecord.objects.filter(fan=fan).count() == 2
    assert ConsentRecord.objects.get(fan=fan, purpose="messaging").evidence == "phone proven by SMS code"
    assert "You're in" in sms_outbox[-1].body
    # The code is single-use.
    assert _post(client, f"/join/{personas.talent.slug}/verify/", {"code": code}).status_code == 302
    assert Fan.objects.filter(phone=PHONE).count() == 1


def test_code_attempts_are_limited(client, personas, docs, sms_outbox, settings):
    settings.PHONE_CODE_MAX_ATTEMPTS = 2
    _post(client, join_url(personas.talent), signup_data(*docs, phone=PHONE))
    code = _code_from(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    _post(client, f"/join/{personas.talent.slug}/verify/", {"code": wrong})
    _post(client, f"/join/{personas.talent.slug}/verify/", {"code": wrong})
    response = _post(client, f"/join/{personas.talent.slug}/verify/", {"code": code})
    assert response.status_code == 400 and b"expired" in response.content
    _nothing_stored()


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("12", b"phone number is not valid"),
        ("not a phone", b"does not look like a phone number"),
        ("+44 20 7183 8750", b"landline"),
        ("+1 800 555 1212", b"landline or service number"),
        ("", b"This field is required"),
    ],
)
def test_bad_typed_phones(client, personas, docs, sms_outbox, phone, message):
    response = _post(client, join_url(personas.talent), signup_data(*docs, phone=phone))
    assert response.status_code == 400
    assert message in response.content
    assert sms_outbox == []


def test_signup_is_rate_limited_per_ip_and_per_phone(client, personas, docs, settings, sms_outbox):
    settings.RATELIMIT_SIGNUP_PER_PHONE = (2, 3600)
    for _ in range(2):
        assert _post(client, join_url(personas.talent), signup_data(*docs, phone=PHONE)).status_code == 302
    limited = _post(client, join_url(personas.talent), signup_data(*docs, phone=PHONE))
    assert limited.status_code == 429 and b"Too many" in limited.content
    assert len(sms_outbox) == 2  # no third code texted to the victim's number
    settings.RATELIMIT_SIGNUP_PER_IP = (3, 3600)  # three posts so far from this address
    assert _post(client, join_url(personas.talent), signup_data(*docs, phone="+14155552672")).status_code == 429


def test_an_existing_active_fan_re_signing_by_typed_phone_still_needs_the_code(client, personas, docs, sms_outbox):
    create_fan(personas.talent, PHONE, first_name="Original")
    _post(client, join_url(personas.talent), signup_data(*docs, phone=PHONE, first_name="Impostor"))
    assert Fan.objects.get(phone=PHONE).first_name == "Original"


def test_owner_sets_the_data_keyword_in_the_console(client, personas, sms_outbox):
    from django.urls import reverse

    from tests.accounts.join_support import text_in

    client.force_login(personas.owner)
    page = client.get(reverse("admin:accounts_talent_change", args=[personas.talent.pk]))
    form = page.context["adminform"].form
    assert "data_keyword" in form.fields
    assert (
        "sharing_reconsent_requested_at"
        not in client.get(reverse("admin:accounts_fan_change", args=[personas.fan.pk])).context["adminform"].form.fields
    )
    personas.talent.data_keyword = "PRIVACY"
    personas.talent.save()
    text_in(client, personas.talent, "privacy", str(personas.fan.phone))
    assert "/me/?t=" in sms_outbox[0].body


def test_time_zone_guess_endpoint_for_the_optional_script(client, personas, docs):
    url = f"/join/{personas.talent.slug}/tz-guess/"
    assert client.get(url, {"country": "US", "region": "TX"}).json() == {"time_zone": "America/Chicago"}
    assert client.get(url, {"country": "US"}).json() == {"time_zone": personas.talent.default_time_zone}
    assert client.get("/join/nobody/tz-guess/").status_code == 404


def test_the_done_page_shows_the_data_link_once(client, personas, docs):
    """On a shared device, a reload of the done page must not hand out another /me/ link."""
    _post(client, _link(personas.talent), signup_data(*docs))
    first = client.get(f"/join/{personas.talent.slug}/done/")
    assert first.status_code == 200 and b"/me/?t=" in first.content
    # A reload still says the signup worked (never a blank form), without another link.
    again = client.get(f"/join/{personas.talent.slug}/done/")
    assert again.status_code == 200 and b"You're in" in again.content and b"/me/?t=" not in again.content
    assert b"text MYDATA" in again.content


def test_a_typed_number_that_texted_stop_gets_no_code(client, personas, docs, sms_outbox):
    """STOP means no more texts: the form refuses to text a code and says how to rejoin."""
    create_fan(personas.talent, PHONE, status=Fan.Status.OPTED_OUT)
    response = _post(client, join_url(personas.talent), signup_data(*docs, phone=PHONE))
    assert response.status_code == 400
    assert b"texted STOP" in response.content and b"text START" in response.content
    assert sms_outbox == []
    assert Fan.objects.get(phone=PHONE).status == Fan.Status.OPTED_OUT
    # An erased fan is a stranger again: the code goes out.
    Fan.objects.filter(phone=PHONE).update(status=Fan.Status.ERASED)
    assert _post(client, join_url(personas.talent), signup_data(*docs, phone=PHONE)).status_code == 302
    assert len(sms_outbox) == 1


def test_signup_data_page_import_and_export_read_the_one_profile_spec():
    from accounts.forms import ProfileFields
    from accounts.profile import PROFILE, PROFILE_FIELDS
    from accounts.services import PROFILE_FIELDS as CORRECTABLE
    from messaging.audience.exports import EXPORT_COLUMNS
    from messaging.audience.import_rows import HEADER_ALIASES

    assert list(ProfileFields.base_fields) == list(PROFILE_FIELDS)  # each talent's form picks from these
    assert CORRECTABLE == PROFILE_FIELDS
    for spec in PROFILE:
        field = ProfileFields.base_fields[spec.name]
        assert field.label == spec.label
        assert spec.why and len(spec.why) <= 80  # one line, shown to the fan
        assert HEADER_ALIASES[spec.name] == spec.import_aliases
        assert spec.name in EXPORT_COLUMNS
