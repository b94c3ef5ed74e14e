"""The invite page and the console's password-reset pages. Included without a namespace: Django's
admin login shows its "Forgotten your password?" link when `admin_password_reset` resolves, and
the reset views find each other by these global names."""

from django.urls import path

from accounts import team_views

urlpatterns = [
    path("team/invite/<str:token>/", team_views.invite_accept, name="team-invite"),
    path("admin/password_reset/", team_views.PasswordResetView.as_view(), name="admin_password_reset"),
    path("admin/password_reset/done/", team_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "admin/reset/<uidb64>/<token>/",
        team_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("admin/reset/done/", team_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
