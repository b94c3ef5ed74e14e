"""The API router. Apps register their viewsets here; views stay thin and call services."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from messaging.audience import api as api_audience
from messaging.sms.api import SmsPartsView

router = DefaultRouter()
api_audience.register(router)  # contact-lists, segments, tags, imports

urlpatterns = [
    path("segment-info/", SmsPartsView.as_view(), name="segment-info"),
    path("", include(router.urls)),
]
