"""Fan-facing pages: /join/<talent>/ (signup), its phone-code step and done page; /me/ lives in
accounts/me_views.py (re-exported here: URL names, imports and stored paths keep working).

Views are thin: validate with a form, call consent/accounts services, queue texts on the
priority lane. Every page works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.http import require_GET, require_http_methods

from accounts import phones
from accounts.forms import CodeForm, JoinForm

# /me/ and the helpers both pages use; every name importable from here as before the split.
from accounts.me_views import (  # noqa: F401
    COMPLIANCE,
    ME_KEY,
    ME_UNTIL_KEY,
    _evidence,
    _fan_page,
    _local,
    _me_denied,
    _me_fan,
    _profile_initial,
    _render_me,
    _too_many,
    _zone,
    me,
    me_consent,
    me_delete,
    me_export,
    me_profile,
)
from accounts.models import Fan, PendingSignup, Talent
from accounts.ratelimit import client_ip, hit
from accounts.services import pending_signups_expire
from accounts.tokens import code_placeholder, join_tokens, self_service_tokens
from consent import texts
from consent.models import ConsentRecord, Partner, TermsDocument
from consent.services import (
    Evidence,
    SignupRefused,
    fan_signup,
    terms_for_signup,
)
from messaging.automations import joins as automation_joins
from messaging.conversations.priority import priority_message_queue

PENDING_KEY = "join_pending"
DONE_KEY = "join_done"


def _active_talent(slug: str) -> Talent:
    return get_object_or_404(Talent, slug=slug, is_active=True)


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
