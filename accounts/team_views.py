"""The invite page (/team/invite/<token>/) and the console's password-reset pages.

The invitee opens the link from the invite mail (or the one the owner copied): a new address sets
a password, an existing account signs in, someone already signed in accepts with one button. Each
way ends in accounts/team.py invite_accept and the talent's console. Pages render in the console's
frame (admin/base_site.html), so the console theme applies; they need no sign-in to open.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from unfold.widgets import INPUT_CLASSES

from accounts import current_talent, team
from accounts.ratelimit import LOGIN_LOCKED_MESSAGE, client_ip, hit, login_locked

# Reset mails per address and per client an hour: each one is a mail sent on a stranger's request.
PASSWORD_RESET_EMAIL_RATE = (5, 3600)
PASSWORD_RESET_IP_RATE = (20, 3600)


class InviteSignInForm(AuthenticationForm):
    """Sign in with an existing account to accept; unlike the console login it admits non-staff
    users (someone removed from every team and invited back)."""

    def clean(self):
        if self.request is not None and login_locked(
            ip=client_ip(self.request), username=self.cleaned_data.get("username")
        ):
            raise forms.ValidationError(LOGIN_LOCKED_MESSAGE, code="throttled")
        return super().clean()


def _styled(form):
    """The console theme's input look (unfold styles by class; Django's forms carry none)."""
    for field in form.fields.values():
        field.widget.attrs["class"] = " ".join(INPUT_CLASSES)
    return form


def _context(request: HttpRequest, **extra) -> dict:
    return {**admin.site.each_context(request), **extra}


def _land(request: HttpRequest, member) -> HttpResponse:
    current_talent.switch(request, str(member.talent_id))  # the console opens in the talent joined
    messages.success(request, f"Welcome to {member.talent}'s team ({member.get_role_display().lower()}).")
    return redirect("admin:index")


@never_cache
@sensitive_post_parameters("password", "new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invite = team.invite_from_token(token)
    if invite is None:
        return TemplateResponse(
            request, "accounts/team/invite_invalid.html", _context(request, title="Invite link not valid"), status=410
        )
    user_model = get_user_model()
    existing = user_model.objects.filter(username__iexact=invite.email).first()
    action = request.POST.get("action") if request.method == "POST" else None
    new_user = user_model(username=invite.email, email=invite.email)
    password_form = _styled(SetPasswordForm(new_user, request.POST if action == "create" else None))
    signin_form = _styled(
        InviteSignInForm(request, data=request.POST if action == "signin" else None, initial={"username": invite.email})
    )
    error = ""
    try:
        if action == "accept" and request.user.is_authenticated:
            return _land(request, team.invite_accept(token=token, user=request.user))
        if action == "create" and existing is None and password_form.is_valid():
            member = team.invite_accept(token=token, password=password_form.cleaned_data["new_password1"])
            login(request, member.user, backend=settings.AUTHENTICATION_BACKENDS[0])
            return _land(request, member)
        if action == "signin" and signin_form.is_valid():
            user = signin_form.get_user()
            member = team.invite_accept(token=token, user=user)
            login(request, user)
            return _land(request, member)
    except team.TeamError as exc:
        error = str(exc)
    return TemplateResponse(
        request,
        "accounts/team/invite_accept.html",
        _context(
            request,
            title=f"Join {invite.talent}'s team",
            invite=invite,
            existing=existing,
            password_form=password_form,
            signin_form=signin_form,
            error=error,
        ),
    )


# --- password reset (Django's views, under the console's URLs and frame) ------------------------
class _ConsoleFrame:
    """The console's header, title and input look on pages that need no sign-in."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **admin.site.each_context(self.request)}

    def get_form(self, form_class=None):
        return _styled(super().get_form(form_class))


class PasswordResetView(_ConsoleFrame, auth_views.PasswordResetView):
    """Links in the mail use PUBLIC_BASE_URL, never the request's Host header (a forged Host
    would otherwise put an attacker's domain in a real reset mail)."""

    email_template_name = "registration/password_reset_email.html"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        if not (
            hit("password-reset-ip", client_ip(self.request), PASSWORD_RESET_IP_RATE)
            and hit("password-reset-email", email, PASSWORD_RESET_EMAIL_RATE)
        ):
            # Same answer as a sent mail: the page never tells whether an address has an account.
            return redirect(self.get_success_url())
        self.extra_email_context = {"base_url": settings.PUBLIC_BASE_URL}
        return super().form_valid(form)


class PasswordResetDoneView(_ConsoleFrame, auth_views.PasswordResetDoneView):
    pass


class PasswordResetConfirmView(_ConsoleFrame, auth_views.PasswordResetConfirmView):
    pass


class PasswordResetCompleteView(_ConsoleFrame, auth_views.PasswordResetCompleteView):
    pass
