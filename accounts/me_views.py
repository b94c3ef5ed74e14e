"""Fan-facing pages: /me/, the fan's own data (opened from a one-time link we text them).

Moved out of accounts/views.py (module size, issue 9); accounts/views.py re-exports every name, so
URL names, imports and stored paths keep working. Views are thin: validate with a form, call
consent/accounts/privacy services, queue texts on the priority lane. Every page works without
JavaScript.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import phones
from accounts.forms import ProfileForm
from accounts.models import Fan, Talent
from accounts.ratelimit import client_ip, hit
from accounts.services import fan_profile_update
from accounts.tokens import self_service_tokens
from consent import texts
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_out, fan_sharing_set
from messaging.conversations.priority import priority_message_queue
from messaging.privacy.services import fan_data_export, fan_erase
from messaging.sms.models import OutboundMessage

COMPLIANCE = OutboundMessage.Lane.COMPLIANCE
ME_KEY = "me_fan"
ME_UNTIL_KEY = "me_until"
# Sections a higher layer adds to the data page (issue 14: the fan's drops), registered by
# messaging/apps.py: fan -> a context dict with its "template" to include, or None (nothing to show).
ME_SECTIONS: list[Callable[[Fan], dict | None]] = []


def _too_many(request: HttpRequest, talent: Talent | None = None) -> HttpResponse:
    return render(request, "accounts/too_many.html", {"talent": talent}, status=429)


def _evidence(request: HttpRequest, *, method: str, note: str = "") -> Evidence:
    return Evidence(
        method=method,
        ip=client_ip(request) or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        evidence=note,
    )


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
        "sections": [section for section in (hook(fan) for hook in ME_SECTIONS) if section],
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
