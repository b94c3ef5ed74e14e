from django.urls import path

from messaging.automations import views as automations
from messaging.campaigns import views as links
from messaging.webhooks import inbound, status

app_name = "messaging"

urlpatterns: list = [
    # Campaign images must be public for Twilio to fetch them as MediaUrl. Only this folder is
    # served: MEDIA_ROOT also holds import files (personal data), which never are. In production a
    # proxy should serve this path; the view is the working default.
    path("media/campaign-media/<path:path>", links.campaign_media, name="campaign_media"),
    path("webhooks/twilio/inbound/", inbound.twilio_inbound, name="twilio-inbound"),
    path("webhooks/twilio/status/", status.status_callback, name="twilio_status"),
    path("l/<str:code>", links.tracked_link, name="tracked_link"),
    path("drops/<slug:slug>/<int:drop_id>/", automations.drop_page, name="drop"),  # issue 14
]
