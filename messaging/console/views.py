"""The console's own pages beside the model pages: the talent switcher's endpoint."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import current_talent

# Pages that still make sense after a switch; anything else (one row's page, a report) belonged to
# the previous talent and would answer 404, so the switch lands on the front page instead.
_KEEP_AFTER_SWITCH = ("index", "app_list")


def _back_to(request) -> str:
    target = request.POST.get("next", "")
    home = reverse("admin:index")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return home
    try:
        match = resolve(target.split("?", 1)[0])
    except Resolver404:
        return home
    name = match.url_name or ""
    if match.namespace == "admin" and (name in _KEEP_AFTER_SWITCH or name.endswith("_changelist")):
        return target.split("?", 1)[0]  # filters of the old talent (a list id) would not apply
    return home


@require_POST
def talent_switch(request):
    """Store the talent the user works in now (checked against their memberships)."""
    try:
        talent = current_talent.switch(request, request.POST.get("talent", ""))
    except current_talent.SwitchRefused as exc:
        messages.error(request, f"Not switched: {exc}")
        return HttpResponseRedirect(reverse("admin:index"))
    messages.success(request, f"Now working in {talent.display_name}." if talent else "Now seeing all talents.")
    return HttpResponseRedirect(_back_to(request))
