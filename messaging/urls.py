from django.urls import path

from messaging import inbound

app_name = "messaging"

urlpatterns: list = [
    path("webhooks/twilio/inbound/", inbound.twilio_inbound, name="twilio-inbound"),
]
