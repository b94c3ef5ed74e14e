"""Fan-facing pages: /join/<talent>/ (signup), its phone-code step and done page, and /me/.

Views are thin: validate with a form, call consent/accounts services, queue texts on the
priority lane. Every page works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import phones
from accounts.forms import CodeForm, JoinForm, ProfileForm
from accounts.models import Fan, PendingSignup, Talent
from accounts.ratelimit import client_ip, hit
from accounts.services import fan_profile_update, pending_signups_expire
from accounts.tokens import code_placeholder, join_tokens, self_service_tokens
from consent import texts
from consent.models import ConsentRecord, Partner, TermsDocument
from consent.services import (
    Evidence,
    SignupRefused,
    fan_opt_out,
    fan_sharing_set,
    fan_signup,
    terms_for_signup,
)
from messaging.automations import joins as automation_joins
from messaging.conversations.priority import priority_message_queue
from messaging.privacy.services import fan_data_export, fan_erase
from messaging.sms.models import OutboundMessage

COMPLIANCE = OutboundMessage.Lane.COMPLIANCE
PENDING_KEY = "join_pending"
DONE_KEY = "join_done"
ME_KEY = "me_fan"
ME_UNTIL_KEY = "me_until"


def _active_talent(slug: str) -> Talent:
    return get_object_or_404(Talent, slug=slug, is_active=True)


def _too_many(request: HttpRequest, talent: Talent | None = None) -> HttpResponse:
    return render(request, "accounts/too_many.html", {"talent": talent}, status=429)


def _evidence(request: HttpRequest, *, method: str, note: str = "") -> Evidence:
    return Evidence(
        method=method,
        ip=client_ip(request) or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        evidence=note,
    )


def _shown_versions_are_current(form: JoinForm, terms: TermsDocument, privacy: TermsDocument) -> bool:
    """Did the fan read the current versions? The page posts back the versions it showed."""
    return (
        form.cleaned_data["terms_version"] == terms.version and form.cleaned_data["privacy_version"] == privacy.version
    )


@dataclass
class _Answers:
    """One signup as the fan submitted it: the number, the form's answers (profile, consents, the
    request's ip and user agent) and the terms and privacy versions they were shown. A signed link
    signs up with it at once; a typed number keeps it in a PendingSignup row until the code comes
    back (to_pending / from_pending are the one round trip through that row's JSON)."""

    talent: Talent
    phone: str
    data: dict
    terms: TermsDocument
    privacy: TermsDocument

    def to_pending(self) -> dict:
        """The row's fields (the birth date as ISO text: the data column is JSON)."""
        profile = dict(self.data["profile"])
        if profile.get("birth_date"):
            profile["birth_date"] = profile["birth_date"].isoformat()
        return {
            "talent": self.talent,
            "phone": self.phone,
            "data": {**self.data, "profile": profile},
            "terms_id": self.terms.pk,
            "privacy_id": self.privacy.pk,
        }

    @classmethod
    def from_pending(cls, pending: PendingSignup, *, talent: Talent) -> _Answers:
        """`talent`: the page's, which _pending matched the row to (saves fetching it again)."""
        data = pending.data
        if data["profile"].get("birth_date"):
            data["profile"]["birth_date"] = dt.date.fromisoformat(data["profile"]["birth_date"])
        return cls(
            talent=talent,
            phone=pending.phone,
            data=data,
            terms=TermsDocument.objects.get(pk=pending.terms_id),
            privacy=TermsDocument.objects.get(pk=pending.privacy_id),
        )


def _signup(request: HttpRequest, answers: _Answers, *, note: str) -> Fan:
    """The signup and its confirmation text, in one transaction (the text leaves after commit)."""
    talent, data = answers.talent, answers.data
    with transaction.atomic():
        result = fan_signup(
            talent=talent,
            phone=answers.phone,
            profile=data["profile"],
            messaging_consent=data["consent_messaging"],
            sharing_consent=data["consent_sharing"],
            terms=answers.terms,
            privacy=answers.privacy,
            evidence=Evidence(
                method=ConsentRecord.Method.WEB_FORM, ip=data.get("ip"), user_agent=data.get("ua", ""), evidence=note
            ),
        )
        priority_message_queue(
            talent=talent, fan=result.fan, to=answers.phone, body=texts.signup_confirmation(talent), lane=COMPLIANCE
        )
        automation_joins.on_fan_joined(fan=result.fan, source="web")
    request.session[DONE_KEY] = {"fan": result.fan.pk, "talent": talent.pk}
    return result.fan


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    talent = _active_talent(slug)
    token = request.GET.get("t", "")
    phone = ""
    if token:
        claim = join_tokens.check_token(talent=talent, token=token)
        if claim is None:
            return render(request, "accounts/link_invalid.html", {"talent": talent}, status=400)
        phone = claim.phone
    terms, privacy = terms_for_signup(talent=talent)
    if terms is None or privacy is None:
        return render(request, "accounts/join_closed.html", {"talent": talent}, status=503)

    if request.method == "POST":
        if not hit("signup-ip", client_ip(request), settings.RATELIMIT_SIGNUP_PER_IP):
            return _too_many(request, talent)
        form = JoinForm(request.POST, talent=talent, phone=phone)
        if form.is_valid():
            if not _shown_versions_are_current(form, terms, privacy):
                # A new version was published while the fan read the page: consent must point at
                # what they saw, so show the new version and ask again (nothing is stored).
                form.add_error(
                    None, "The terms were updated while you were reading. Please review them and submit again."
                )
            else:
                target = phone or form.cleaned_data["phone"]
                if not hit("signup-phone", f"{talent.pk}:{target}", settings.RATELIMIT_SIGNUP_PER_PHONE):
                    return _too_many(request, talent)
                data = {
                    "profile": form.profile(),
                    "consent_messaging": form.cleaned_data["consent_messaging"],
                    "consent_sharing": form.cleaned_data["consent_sharing"],
                    "ip": client_ip(request),
                    "ua": request.META.get("HTTP_USER_AGENT", "")[:400],
                }
                answers = _Answers(talent=talent, phone=target, data=data, terms=terms, privacy=privacy)
                if phone:
                    try:
                        _signup(request, answers, note="signed signup link")
                    except SignupRefused as exc:
                        form.add_error(None, str(exc))
                    else:
                        return redirect("accounts:join-done", slug=talent.slug)
                elif _texted_stop(talent, target):
                    # STOP means no more texts, and a signup code is a text: the number's owner
                    # rejoins by texting START, which also proves the number is theirs.
                    where = f" to {phones.display(str(talent.sender_number))}" if talent.sender_number else ""
                    form.add_error(
                        "phone",
                        f"This number texted STOP, so we will not text it a code. To rejoin, text START{where}.",
                    )
                else:
                    _start_phone_check(request, answers)
                    return redirect("accounts:join-verify", slug=talent.slug)
        elif form.underage:
            # Refused kindly, and nothing typed is kept.
            return render(request, "accounts/join_underage.html", {"talent": talent}, status=403)
        status = 400
    else:
        initial = {"country": phones.country_of(phone) if phone else _default_country(talent)}
        form = JoinForm(talent=talent, phone=phone, initial=initial)
        status = 200
    context = {
        "talent": talent,
        "form": form,
        "phone_display": phones.display(phone) if phone else "",
        "terms": terms,
        "privacy": privacy,
        "token": token,
        "partners": Partner.objects.filter(talent=talent, is_active=True).order_by("name"),
    }
    return render(request, "accounts/join.html", context, status=status)


@require_GET
def join_tz_guess(request: HttpRequest, slug: str) -> JsonResponse:
    """The form's optional script asks this as the fan types their address (no JS: guessed on submit)."""
    talent = _active_talent(slug)
    guess = phones.guess_time_zone(
        country=request.GET.get("country", "")[:2],
        region=request.GET.get("region", "")[:100],
        postal_code=request.GET.get("postal_code", "")[:20],
    )
    return JsonResponse({"time_zone": guess or talent.default_time_zone})


def _default_country(talent: Talent) -> str:
    served = [c.strip() for c in talent.served_countries.split(",") if c.strip()]
    return served[0] if served else settings.PHONENUMBER_DEFAULT_REGION


def _code_digest(code: str, phone: str, session_nonce: str) -> str:
    return salted_hmac("fancommunity.join.phone_code", f"{code}:{phone}:{session_nonce}").hexdigest()


def _texted_stop(talent: Talent, phone: str) -> bool:
    return Fan.objects.filter(talent=talent, phone=phone, status=Fan.Status.OPTED_OUT).exists()


def _start_phone_check(request: HttpRequest, answers: _Answers) -> None:
    """A typed number must be proven: keep the form in a PendingSignup row that expires with the
    code (the session holds only its id and a secret), and text a code to the number."""
    talent, phone = answers.talent, answers.phone
    code = f"{secrets.randbelow(1_000_000):06d}"
    nonce = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        old = request.session.get(PENDING_KEY)
        if isinstance(old, dict) and old.get("id"):
            PendingSignup.objects.filter(pk=old["id"]).delete()  # a second try replaces the first
        pending = PendingSignup.objects.create(
            **answers.to_pending(),
            digest=_code_digest(code, phone, nonce),
            nonce=nonce,
            session_secret=secret,
            expires_at=timezone.now() + dt.timedelta(seconds=settings.PHONE_CODE_MAX_AGE),
        )
        # Stored sealed, opened as it leaves (issue 15): the team never reads a code that proves a number.
        priority_message_queue(talent=talent, to=phone, body=texts.phone_code(talent, code_placeholder(talent, code)))
    request.session[PENDING_KEY] = {"id": pending.pk, "secret": secret, "talent": talent.pk}


def _pending(request: HttpRequest, talent: Talent) -> PendingSignup | None:
    ref = request.session.get(PENDING_KEY)
    if not isinstance(ref, dict) or ref.get("talent") != talent.pk or not ref.get("id"):
        return None
    pending = PendingSignup.objects.filter(pk=ref["id"], talent=talent).first()
    if pending is None or not constant_time_compare(pending.session_secret, str(ref.get("secret", ""))):
        return None
    return pending


def _drop_pending(request: HttpRequest, pending: PendingSignup) -> None:
    pending.delete()
    request.session.pop(PENDING_KEY, None)


@require_http_methods(["GET", "POST"])
def join_verify(request: HttpRequest, slug: str) -> HttpResponse:
    talent = _active_talent(slug)
    pending_signups_expire()  # cheap (an indexed DELETE); the periodic task does it too
    pending = _pending(request, talent)
    if pending is None:
        if request.session.pop(PENDING_KEY, None):  # it was there and expired
            return render(request, "accounts/code_expired.html", {"talent": talent}, status=400)
        return redirect("accounts:join", slug=talent.slug)
    context = {
        "talent": talent,
        "phone_display": phones.display(pending.phone),
        "zone": pending.data.get("profile", {}).get("time_zone", ""),
    }
    if timezone.now() > pending.expires_at or pending.attempts >= settings.PHONE_CODE_MAX_ATTEMPTS:
        _drop_pending(request, pending)
        return render(request, "accounts/code_expired.html", context, status=400)
    if request.method == "POST":
        if not hit("signup-ip", client_ip(request), settings.RATELIMIT_SIGNUP_PER_IP):
            return _too_many(request, talent)
        form = CodeForm(request.POST)
        if form.is_valid():
            PendingSignup.objects.filter(pk=pending.pk).update(attempts=pending.attempts + 1)
            pending.attempts += 1
            if constant_time_compare(
                _code_digest(form.cleaned_data["code"], pending.phone, pending.nonce), pending.digest
            ):
                answers = _Answers.from_pending(pending, talent=talent)
                _drop_pending(request, pending)
                try:
                    _signup(request, answers, note="phone proven by SMS code")
                except SignupRefused as exc:
                    return render(
                        request, "accounts/join_error.html", {"talent": talent, "error": str(exc)}, status=409
                    )
                return redirect("accounts:join-done", slug=talent.slug)
            left = settings.PHONE_CODE_MAX_ATTEMPTS - pending.attempts
            form.add_error("code", f"That code is not right; {left} attempt{'s' if left != 1 else ''} left.")
        context["form"] = form
        return render(request, "accounts/join_verify.html", context, status=400)
    context["form"] = CodeForm()
    return render(request, "accounts/join_verify.html", context)


@require_GET
def join_done(request: HttpRequest, slug: str) -> HttpResponse:
    talent = _active_talent(slug)
    done = request.session.get(DONE_KEY)
    if not done or done.get("talent") != talent.pk:
        return redirect("accounts:join", slug=talent.slug)
    fan = Fan.objects.filter(pk=done["fan"], talent=talent, status=Fan.Status.ACTIVE).first()
    if fan is None:
        return redirect("accounts:join", slug=talent.slug)
    # The link to the fan's data is shown once: on a shared device a reload must not hand out
    # another one. A reload still says the signup worked (never a blank form, as if it failed).
    me_url = ""
    if not done.get("shown"):
        me_url = reverse("accounts:me") + "?t=" + self_service_tokens.make_token(fan=fan)
        request.session[DONE_KEY] = {**done, "shown": True}
    context = {"talent": talent, "fan": fan, "me_url": me_url, "zone": fan.time_zone or talent.default_time_zone}
    return render(request, "accounts/join_done.html", context)


# --- /me/: the fan's own data -----------------------------------------------------------------


def _me_fan(request: HttpRequest) -> Fan | None:
    fan_id = request.session.get(ME_KEY)
    if not fan_id or time.time() > request.session.get(ME_UNTIL_KEY, 0):
        return None
    return Fan.objects.select_related("talent").exclude(status=Fan.Status.ERASED).filter(pk=fan_id).first()


def _me_denied(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/me_denied.html", status=403)


def _fan_page(view: Callable[[HttpRequest, Fan], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """The data page's actions answer only the fan whose link opened this session, while it lasts
    (403 otherwise); the view is called with that fan."""

    @functools.wraps(view)
    def with_fan(request: HttpRequest) -> HttpResponse:
        fan = _me_fan(request)
        if fan is None:
            return _me_denied(request)
        return view(request, fan)

    return with_fan


@require_http_methods(["GET", "POST"])
def me(request: HttpRequest) -> HttpResponse:
    """GET ?t= shows a button; POST t uses the link up and opens the page.

    Opening takes a POST because phones and chat apps fetch links for previews: a GET that
    consumed the one-time link would hand it to the preview bot, not the fan.
    """
    token = request.POST.get("t") if request.method == "POST" else request.GET.get("t")
    if token is not None:
        if not hit("me-ip", client_ip(request), settings.RATELIMIT_SELF_SERVICE_PER_IP):
            return _too_many(request)
        fan = self_service_tokens.check_token(token)
        if fan is None:
            return render(request, "accounts/link_invalid.html", {"talent": None}, status=400)
        if request.method == "GET":
            return render(request, "accounts/me_open.html", {"talent": fan.talent, "token": token})
        # The link is used up: rotate the nonce so it cannot be opened again, and carry the
        # fan in a short session instead (a new session key: no fixation).
        with transaction.atomic():
            locked = Fan.objects.select_for_update().get(pk=fan.pk)
            # Re-checked under the lock: two taps (or a copied link) racing past check_token
            # would otherwise both open a session; only the first to rotate the nonce wins.
            used = locked.link_nonce != fan.link_nonce
            if not used:
                locked.rotate_link_nonce()
                locked.save(update_fields=["link_nonce", "updated_at"])
        if used:
            return render(request, "accounts/link_invalid.html", {"talent": None}, status=400)
        request.session.cycle_key()
        request.session[ME_KEY] = fan.pk
        request.session[ME_UNTIL_KEY] = time.time() + settings.SELF_SERVICE_SESSION_AGE
        return redirect("accounts:me")
    if request.method == "POST":
        return HttpResponse("Missing link token.", status=400, content_type="text/plain")
    fan = _me_fan(request)
    if fan is None:
        return _me_denied(request)
    return _render_me(request, fan)


def _zone(fan: Fan) -> zoneinfo.ZoneInfo:
    try:
        return fan.tz
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _local(iso: str | None, zone: zoneinfo.ZoneInfo) -> str:
    """ "2026-12-01 04:00 PST": a stored UTC time as the fan reads a clock."""
    if not iso:
        return ""
    moment = dt.datetime.fromisoformat(iso).astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M ") + (moment.tzname() or zone.key)


def _profile_initial(fan: Fan) -> dict:
    return {
        "first_name": fan.first_name,
        "last_name": fan.last_name,
        "email": fan.email,
        "birth_date": fan.birth_date,
        "city": fan.city,
        "region": fan.region,
        "postal_code": fan.postal_code,
        "country": fan.country,
        "time_zone": fan.time_zone,
    }


def _render_me(
    request: HttpRequest, fan: Fan, form: ProfileForm | None = None, status: int = 200, notice: str = ""
) -> HttpResponse:
    """The data page. `form`: a posted form to show again with its errors; None (after a change,
    or on opening) is the form filled with what the fan's profile holds now."""
    if form is None:
        form = ProfileForm(talent=fan.talent, phone=str(fan.phone), initial=_profile_initial(fan))
    data = fan_data_export(fan=fan)
    # Display-only extras (the download keeps the plain ISO values): times in the fan's own zone.
    zone = _zone(fan)
    for row in data["consents"] + data["messages"]:
        row["when"] = _local(row["at"], zone)
    for row in data["consents"]:
        row["how"] = ConsentRecord.Method(row["method"]).label
    context = {
        "fan": fan,
        "talent": fan.talent,
        "form": form,
        "data": data,
        "notice": notice,
        "phone_display": phones.display(str(fan.phone)) if fan.phone else "",
        "zone": zone.key,
    }
    return render(request, "accounts/me.html", context, status=status)


@require_POST
@_fan_page
def me_profile(request: HttpRequest, fan: Fan) -> HttpResponse:
    form = ProfileForm(request.POST, talent=fan.talent, phone=str(fan.phone))
    if not form.is_valid():
        return _render_me(request, fan, form, status=400)
    changed = fan_profile_update(fan=fan, changes=form.profile())
    notice = "Saved your changes." if changed else "Nothing to change."
    return _render_me(request, fan, notice=notice)


@require_POST
@_fan_page
def me_consent(request: HttpRequest, fan: Fan) -> HttpResponse:
    purpose, action = request.POST.get("purpose"), request.POST.get("action")
    evidence = _evidence(request, method=ConsentRecord.Method.SELF_SERVICE)
    if purpose == ConsentRecord.Purpose.MESSAGING and action == "withdraw":
        with transaction.atomic():
            if fan_opt_out(fan=fan, evidence=evidence):
                priority_message_queue(
                    talent=fan.talent,
                    fan=fan,
                    to=str(fan.phone),
                    body=texts.opt_out_confirmation(fan.talent),
                    lane=COMPLIANCE,  # the one text after an opt-out: always leaves, first
                )
        notice = "You will get no more texts. Text START to rejoin."
    elif purpose == ConsentRecord.Purpose.PARTNER_SHARING and action in ("withdraw", "grant"):
        fan_sharing_set(fan=fan, share=action == "grant", evidence=evidence)
        notice = "Your profile may be shared with partners." if action == "grant" else "Your profile is not shared."
    else:
        return HttpResponse("Unknown consent change.", status=400, content_type="text/plain")
    fan.refresh_from_db()
    return _render_me(request, fan, notice=notice)


@require_POST
@_fan_page
def me_delete(request: HttpRequest, fan: Fan) -> HttpResponse:
    if request.POST.get("confirm") != "yes":
        return _render_me(request, fan, status=400, notice="Tick the box to confirm deleting your account.")
    talent = fan.talent
    fan_erase(fan=fan)
    request.session.flush()
    return render(request, "accounts/me_deleted.html", {"talent": talent})


@require_GET
@_fan_page
def me_export(request: HttpRequest, fan: Fan) -> HttpResponse:
    response = JsonResponse(fan_data_export(fan=fan), json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="my-data-{fan.talent.slug}.json"'
    return response
