"""The /api/v1/ resource routes, on their own so the schema generator can name them by dotted path
(fancommunity.api_v1.schema.V1SchemaGenerator) without importing the URLconf that imports it."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from fancommunity.api_v1 import views

router = SimpleRouter()
views.register(router)

# The schema covers exactly these routes (not the deprecated /api/ ones, not the schema views).
urlpatterns = [path("api/v1/", include(router.urls))]
