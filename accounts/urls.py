from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns: list = [
    path("join/<slug:slug>/", views.join, name="join"),
    path("join/<slug:slug>/verify/", views.join_verify, name="join-verify"),
    path("join/<slug:slug>/done/", views.join_done, name="join-done"),
    path("join/<slug:slug>/tz-guess/", views.join_tz_guess, name="join-tz-guess"),
    path("me/", views.me, name="me"),
    path("me/profile/", views.me_profile, name="me-profile"),
    path("me/consent/", views.me_consent, name="me-consent"),
    path("me/delete/", views.me_delete, name="me-delete"),
    path("me/export.json", views.me_export, name="me-export"),
]
