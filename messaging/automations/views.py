"""The fan-facing drop page (issue 14 §3): a member joins a drop on the web, without texting.

/drops/<talent>/<drop>/ shows the drop (its release time in the fan's zone, or the talent's) and,
for a member whose data page is open on this device (the /me/ session: opened from the one-time
link we text them), a Join button. Anyone else is told how to join: text the drop's keyword
(an sms: link) or open their data link first. The page is the talent's: a drop of another
talent answers 404, and a fan of another talent is not a member here. No JavaScript.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.models import Fan, Talent
from accounts.views import _me_fan
from messaging.automations import keywords, replies
from messaging.automations.drop_models import Drop, DropEntry
from messaging.automations.drops import _released, drop_join
from messaging.automations.fan_drops import release_local
from messaging.automations.keyword_models import Keyword


@require_http_methods(["GET", "POST"])
def drop_page(request: HttpRequest, slug: str, drop_id: int) -> HttpResponse:
    drop = (
        Drop.objects.select_related("talent", "campaign")
        .filter(pk=drop_id, talent__slug=slug, talent__is_active=True)
        .first()
    )
    if drop is None:
        raise Http404("No such drop.")
    talent = drop.talent
    fan = _me_fan(request)
    if fan is not None and fan.talent_id != talent.pk:
        fan = None  # the session is another talent's member: not a member here
    notice, status = "", 200
    if request.method == "POST":
        if fan is None:
            notice, status = f"Open the link from your texts first (text {talent.data_keyword} for one).", 403
        elif fan.status != Fan.Status.ACTIVE:
            notice, status = "Your membership is not active: text START to rejoin, then join the drop.", 403
        elif drop.is_paused:
            notice, status = "This drop is not open right now.", 409
        else:
            with transaction.atomic():
                joined = drop_join(drop=drop, fan=fan)
                if joined.new and joined.text:
                    replies.reply(fan=fan, body=joined.text, code=joined.code)  # on the priority lane, after commit
            notice = _notice(joined.status, joined.new)
    return render(request, "automations/drop_join.html", _context(drop, talent, fan, notice), status=status)


def _notice(status: str, new: bool) -> str:
    if status == DropEntry.Status.ENTERED:
        return "You're in! We are texting you the details now." if new else "You're already in."
    if status == DropEntry.Status.WAITLISTED:
        return "The drop is full: you are on the waitlist."
    if status == DropEntry.Status.FULL:
        return "Sorry, the drop is full."
    return "This drop is not open right now."


def _context(drop: Drop, talent: Talent, fan: Fan | None, notice: str) -> dict:
    zone = talent.tz
    if fan is not None:
        try:
            zone = fan.tz
        except Exception:  # a zone name gone from the system: the talent's
            zone = talent.tz
    entry = DropEntry.objects.filter(drop=drop, fan=fan).first() if fan is not None else None
    keyword = Keyword.objects.filter(drop=drop, talent=talent, is_paused=False).select_related("talent").first()
    return {
        "talent": talent,
        "drop": drop,
        "fan": fan,
        "member": fan is not None and fan.status == Fan.Status.ACTIVE,
        "entry": entry,
        "notice": notice,
        "released": _released(drop),
        "release_local": release_local(drop, zone),  # a "each fan's local time" drop on the fan's clock
        "keyword": keyword.word.upper() if keyword else "",
        "share_link": keywords.share_link(keyword) if keyword else "",
    }
