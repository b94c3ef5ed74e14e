from django import template
from django.urls import NoReverseMatch, reverse

from accounts import current_talent
from messaging.console import sidebar
from messaging.console.dashboard import WINDOW_DAYS, talent_cards

register = template.Library()


@register.inclusion_tag("admin/console_dashboard.html", takes_context=True)
def console_dashboard(context):
    request = context["request"]
    return {"cards": talent_cards(request.user, request=request), "window_days": WINDOW_DAYS}


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
