from django.urls import path

from messaging import inbound, links
from messaging.webhooks import status

app_name = "messaging"

urlpatterns: list = [
    path("webhooks/twilio/inbound/", inbound.twilio_inbound, name="twilio-inbound"),
    path("webhooks/twilio/status/", status.status_callback, name="twilio_status"),
    path("l/<str:code>", links.tracked_link, name="tracked_link"),
]
