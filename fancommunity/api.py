"""The API router. Apps register their viewsets here; views stay thin and call services."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from messaging import api_audience
from messaging.api_campaigns import SegmentInfoView

router = DefaultRouter()
api_audience.register(router)  # contact-lists, segments, tags, imports

urlpatterns = [
    path("segment-info/", SegmentInfoView.as_view(), name="segment-info"),
    path("", include(router.urls)),
]
