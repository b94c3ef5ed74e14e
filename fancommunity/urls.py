"""Top-level URLs: each app owns its own urls.py; the API router lives in fancommunity/api.py."""

from django.contrib import admin
from django.urls import include, path

from fancommunity import health, metrics
from fancommunity.console_auth import TwoFactorLoginForm, two_factor_setup

admin.site.site_header = "fancommunity console"
admin.site.login_form = TwoFactorLoginForm  # issue 15: password, then a code if set up
admin.site.login_template = "admin/console_login.html"
admin.site.site_title = "fancommunity"
admin.site.index_title = "Talent-team console"
admin.site.site_url = None  # no public home page; fans arrive on /join/<talent>/

urlpatterns = [
    # Served first by fancommunity.health.OpsEndpointsMiddleware (before the HTTPS redirect and the
    # Host check); listed here too so reverse() and a stack without that middleware still work.
    path("healthz", health.healthz, name="healthz"),
    path("healthz/strict", health.healthz_strict, name="healthz-strict"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", include("accounts.team_urls")),  # invites, password reset (before admin/: admin/password_reset/)
    path("admin/two-factor/", two_factor_setup, name="two-factor"),  # issue 15 (before admin/)
    path("admin/", admin.site.urls),
    path("api/v1/", include("fancommunity.api_v1.urls")),  # before api/ (issue 16)
    path("api/", include("fancommunity.api")),
    path("", include("accounts.urls")),
    path("", include("consent.urls")),
    path("", include("messaging.urls")),
]
