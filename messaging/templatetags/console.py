from urllib.parse import urlencode

from django import template
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString, mark_safe

from accounts import current_talent
from accounts.actors import allows
from messaging.console import sidebar
from messaging.console.charts import bar_chart
from messaging.console.dashboard import HOME_DAYS, WINDOW_DAYS, change, home_figures, talent_cards

register = template.Library()


@register.simple_tag(takes_context=True)
def console_dashboard(context):
    """The home page of the current talent; the cards of every talent when none is current."""
    request = context["request"]
    talent = current_talent.current(request)
    if talent is not None and allows(request.user, "view", talent.pk):
        return render_to_string("admin/console_home.html", _home_context(talent), request=request)
    # All talents: the totals and every talent's home figures first (home_all.py), then the older
    # per-talent cards (delivery and replies over 7 days) below.
    from messaging.console.home_all import all_talents_home

    page = request.GET.get("talents_page", "1")
    fans = reverse("admin:accounts_fan_changelist")
    overview = render_to_string(
        "admin/console_home_all.html",
        {
            "all": all_talents_home(request.user, page=int(page) if page.isdigit() else 1),
            "fans_url": fans,
            "members_url": f"{fans}?status__exact=active",
            "opted_out_url": f"{fans}?status__exact=opted_out",
            "inbox_url": reverse("admin:messaging_inboundmessage_changelist") + "?needs_reply__exact=1",
        },
        request=request,
    )
    cards = render_to_string(
        "admin/console_dashboard.html",
        {"cards": talent_cards(request.user, request=request), "window_days": WINDOW_DAYS},
        request=request,
    )
    return mark_safe(overview + cards)  # noqa: S308 - both rendered by the template engine (escaped)


def _home_context(talent) -> dict:
    home = home_figures(talent)
    since = urlencode({"joined_at__gte": home.since.isoformat()})
    outs_since = urlencode({"status__exact": "opted_out", "opted_out_at__gte": home.since.isoformat()})
    fans = reverse("admin:accounts_fan_changelist")
    color = current_talent.brand_color(talent)
    return {
        "home": home,
        "zone": talent.default_time_zone,
        "fans_url": fans,
        "members_url": f"{fans}?status__exact=active",
        "joins_url": f"{fans}?{since}",
        "opt_outs_url": f"{fans}?{outs_since}",
        "inbox_url": reverse("admin:messaging_inboundmessage_changelist") + "?needs_reply__exact=1",
        "campaigns_url": reverse("admin:messaging_campaign_changelist"),
        "joins_change": change(home.joins_total, home.joins_before_total),
        "opt_outs_change": change(home.opt_outs_total, home.opt_outs_before_total),
        "joins_chart": _per_day_chart(home, "fc-joins", "Joins", home.joins, home.joins_before, color),
        "opt_outs_chart": _per_day_chart(
            home, "fc-optouts", "Opt-outs", home.opt_outs, home.opt_outs_before, "#b91c1c"
        ),
    }


def _per_day_chart(home, chart_id: str, what: str, current: list[int], previous: list[int], color: str) -> SafeString:
    """One of the home's daily charts: the last HOME_DAYS days against the days before, in the
    talent's zone (named in the title, as every time the console shows)."""
    return bar_chart(
        chart_id=chart_id,
        title=f"{what} a day, last {HOME_DAYS} days ({home.zone})",
        days=home.days,
        current=current,
        previous=previous,
        color=color,
    )


@register.inclusion_tag("admin/console/talent_switcher.html", takes_context=True)
def console_talent_switcher(context, place: str = "header"):
    """The header's talent: its name and colour, and a switcher when the user has more than one.
    `place` tells the header's copy from the phone bar's (ids stay unique)."""
    request = context["request"]
    talent = current_talent.current(request)
    choices = current_talent.choices(request.user)
    return {
        "request": request,
        "place": place,
        "talent": talent,
        "color": current_talent.brand_color(talent) if talent else "#374151",
        "choices": choices,
        "can_see_all": request.user.is_superuser,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("unfold/helpers/header_title.html", takes_context=True)
def console_header_title(context):
    """The page header's trail in the menu's words: "Audience > Fans > Fiona", not the app and model names."""
    opts = context["opts"]
    parts = []
    if opts.label in sidebar.GROUP_OF:
        parts.append({"title": sidebar.GROUP_OF[opts.label]})
    try:
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        changelist = None
    parts.append({"link": changelist, "title": sidebar.page_title(opts)})
    original = context.get("original") or context.get("object")
    if original is not None and not isinstance(original, str) and getattr(original, "pk", None) is not None:
        try:
            link = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[original.pk])
        except NoReverseMatch:
            link = None
        parts.append({"link": link, "title": original})
    return {"parts": parts}


@register.filter
def pct(rate) -> str:
    """0.1234 -> "12.3%"; nothing to divide by -> an en dash."""
    if rate in (None, ""):
        return "–"
    try:
        return f"{float(rate) * 100:.1f}%"
    except (TypeError, ValueError):
        return "–"
