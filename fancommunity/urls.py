"""Top-level URLs: each app owns its own urls.py; the API router lives in fancommunity/api.py."""

from django.contrib import admin
from django.urls import include, path

from accounts.forms import ConsoleLoginForm
from fancommunity import views

admin.site.site_header = "fancommunity console"
admin.site.login_form = ConsoleLoginForm
admin.site.site_title = "fancommunity"
admin.site.index_title = "Talent-team console"
admin.site.site_url = None  # no public home page; fans arrive on /join/<talent>/

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", include("accounts.team_urls")),  # invites, password reset (before admin/: admin/password_reset/)
    path("admin/", admin.site.urls),
    path("api/v1/", include("fancommunity.api_v1.urls")),  # before api/ (issue 16)
    path("api/", include("fancommunity.api")),
    path("", include("accounts.urls")),
    path("", include("consent.urls")),
    path("", include("messaging.urls")),
]
