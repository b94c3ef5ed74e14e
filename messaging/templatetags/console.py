from django import template

from messaging.console.dashboard import WINDOW_DAYS, talent_cards

register = template.Library()


@register.inclusion_tag("admin/console_dashboard.html", takes_context=True)
def console_dashboard(context):
    request = context["request"]
    return {"cards": talent_cards(request.user), "window_days": WINDOW_DAYS}
