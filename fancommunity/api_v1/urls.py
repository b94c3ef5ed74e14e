"""/api/v1/: the resources, the OpenAPI schema and its docs page (assets from the sidecar, no CDN)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from fancommunity.api_v1 import schema, views
from fancommunity.api_v1.routes import router
from fancommunity.api_v1.routes import urlpatterns as resource_patterns

assert schema  # imported for its OpenAPI extensions

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(urlconf=resource_patterns), name="api-v1-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-v1-schema"), name="api-v1-docs"),
    path("", include(router.urls)),
    # Anything else under /api/v1/ (an id like "0.5" the router's pattern refuses): a JSON 404.
    re_path(r"^.*$", views.not_found),
]
