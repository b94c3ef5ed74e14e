"""Console pages of the messaging app, one module per area, and the console's own URLs."""

from django.contrib import admin
from django.urls import path

from messaging.audience import admin as audience_admin  # noqa: F401
from messaging.automations import (  # noqa: F401 - issue 14
    drop_admin,
    keyword_admin,
    series_admin,  # noqa: F401  (issue 14: welcome series, date messages)
)
from messaging.campaigns import admin as campaigns_admin  # noqa: F401
from messaging.console import senders as senders_admin  # noqa: F401 - Settings > Senders (issue 17)
from messaging.console import views as console_views
from messaging.conversations import admin as conversations_admin  # noqa: F401


def console_urls() -> list:
    """unfold's UnfoldAdminSite.get_urls() adds these under /admin/ (admin_view: staff only, CSRF)."""
    return [path("switch-talent/", admin.site.admin_view(console_views.talent_switch), name="talent_switch")]


admin.site.extra_urls = console_urls
