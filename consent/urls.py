from django.urls import path

from consent import views

app_name = "consent"

urlpatterns: list = [
    path("terms/<slug:slug>/<str:kind>/v<int:version>/", views.document, name="document"),
    path("privacy/<slug:slug>/", views.privacy, name="privacy"),
]
