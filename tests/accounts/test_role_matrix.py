"""Role x capability matrix: every console changelist and add page, every admin action that writes,
and the export endpoints, for each role of a talent's team, for another talent's member and for a
staff user on no team.

The expectations are written from accounts/permissions.py CAPABILITIES (what each role may do),
not read back from the ModelAdmins: a page that checks the wrong capability fails here. A newly
registered model fails `test_every_console_model_is_in_the_matrix` until it is added below.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from accounts import team
from accounts.models import AuditEvent, Invite, TeamMember
from accounts.permissions import CAPABILITIES
from messaging.audience.models import ContactList, ContactListMember, FanTag, Segment
from messaging.campaigns.models import Campaign
from tests.factories import create_member

pytestmark = pytest.mark.django_db

# Who asks: the four roles of personas.talent, a manager of the other talent, staff on no team.
ROLES = ["owner", "manager", "agent", "analyst", "other_manager", "outsider"]
ROLE_OF = {"owner": "owner", "manager": "manager", "agent": "agent", "analyst": "analyst"}
SUPERUSER_ONLY = None  # no team role reaches the page
REDIRECT = "redirect"  # the page sends everyone on (TeamMember/Invite "add" is the invite page)

# model label -> (capability to see the changelist, capability to open the add page)
PAGES: dict[str, tuple[str | None, str | None]] = {
    "accounts.ApiToken": ("manage_team", "manage_team"),  # issue 16: owners create and revoke tokens
    "accounts.AuditEvent": ("view", SUPERUSER_ONLY),
    "accounts.Fan": ("view", "edit_audience"),
    "accounts.Invite": ("manage_team", REDIRECT),  # pending links are credentials: owners only
    "accounts.Talent": ("view", SUPERUSER_ONLY),  # a new tenant is an operator's decision
    "accounts.TeamMember": ("view", REDIRECT),
    "accounts.WebhookDelivery": ("manage_team", SUPERUSER_ONLY),  # written by the dispatcher only
    "accounts.WebhookEndpoint": ("manage_team", "manage_team"),
    "consent.ConsentRecord": ("view", SUPERUSER_ONLY),  # evidence: written by services only
    "consent.TermsDocument": ("view", "edit_terms"),
    "messaging.Campaign": ("view", "compose"),
    "messaging.ContactList": ("view", "edit_audience"),
    "messaging.Conversation": ("view", SUPERUSER_ONLY),  # opened by the fan's text, never by hand
    "messaging.ExportAudit": ("view", SUPERUSER_ONLY),
    "messaging.ImportBatch": ("view", "edit_audience"),
    "messaging.InboundMessage": ("view", SUPERUSER_ONLY),
    "messaging.OutboundMessage": ("view", SUPERUSER_ONLY),
    "messaging.Poll": ("view", "compose"),
    "messaging.SavedReply": ("view", "compose"),
    "messaging.Segment": ("view", "edit_audience"),
    "messaging.Tag": ("view", "edit_audience"),
    "messaging.Keyword": ("view", "compose"),  # issue 14
    "messaging.Drop": ("view", "compose"),  # issue 14
    "messaging.WelcomeSeries": ("view", "compose"),  # issue 14: automations are composed like campaigns
    "messaging.DateMessage": ("view", "compose"),
    "messaging.UpcomingAutomation": ("view", SUPERUSER_ONLY),  # a read-only page: nothing to add
    "messaging.InboxSettings": ("view", SUPERUSER_ONLY),  # issue 13: one per talent, made on first use
    "messaging.Sender": ("view", "edit_talent"),  # issue 17: the talent's numbers and what they cost
    # Operators' pages: Django's users and groups, the task queue.
    "auth.User": (SUPERUSER_ONLY, SUPERUSER_ONLY),
    "auth.Group": (SUPERUSER_ONLY, SUPERUSER_ONLY),
    "django_q.Failure": (SUPERUSER_ONLY, SUPERUSER_ONLY),
    "django_q.OrmQ": (SUPERUSER_ONLY, SUPERUSER_ONLY),
    "django_q.Schedule": (SUPERUSER_ONLY, SUPERUSER_ONLY),
    "django_q.Success": (SUPERUSER_ONLY, SUPERUSER_ONLY),
}


def _user(personas, role: str):
    return getattr(personas, role)


def _may(role: str, capability: str | None) -> bool:
    """May `role` do `capability` for personas.talent? (other_manager: for its own talent only)."""
    if capability is None:
        return False
    if role == "other_manager":
        return "manager" in CAPABILITIES[capability]
    return role in ROLE_OF and ROLE_OF[role] in CAPABILITIES[capability]


def test_every_console_model_is_in_the_matrix():
    assert {m._meta.label for m in admin.site._registry} == set(PAGES)


def _admin_url(label: str, view: str, *args) -> str:
    app, model = label.lower().split(".")
    return reverse(f"admin:{app}_{model}_{view}", args=args)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", sorted(PAGES))
def test_changelist_and_add_pages(client, personas, role, label):
    view_cap, add_cap = PAGES[label]
    client.force_login(_user(personas, role))
    changelist = client.get(_admin_url(label, "changelist"))
    # Another talent's member sees the page with their own talent's rows (tests/accounts/test_admin_scoping.py).
    assert changelist.status_code == (200 if _may(role, view_cap) else 403), (label, role)
    add = client.get(_admin_url(label, "add"))
    if add_cap == REDIRECT:
        assert add.status_code == 302, (label, role)
        landing = client.get(add["Location"], follow=True)
        assert landing.status_code == 200, (label, role)  # the invite form, or the team page with a message
        if not _may(role, "manage_team"):
            assert b"Only a talent" in landing.content
    else:
        assert add.status_code == (200 if _may(role, add_cap) else 403), (label, role)


# --- admin actions that write -----------------------------------------------------------------
def _campaign(personas, status):
    return Campaign.objects.create(talent=personas.talent, name=f"Matrix {status}", body="Hi", status=status)


def _listed_fan(personas):
    contact_list = ContactList.objects.create(talent=personas.talent, name="Matrix list")
    ContactListMember.objects.create(contact_list=contact_list, fan=personas.fan)
    return personas.fan


def _spare_member(personas):
    return create_member(personas.talent, TeamMember.Role.AGENT, "spare_agent")


def _invite(personas):
    return team.invite_create(talent=personas.talent, email="new@example.com", role="agent", actor=personas.owner)


C = Campaign.Status
# (label, action, capability, make the target, extra POST data, did it act?)
ACTIONS = [
    (
        "accounts.Fan",
        "tag_fans",
        "edit_audience",
        lambda p: p.fan,
        {"_apply": "1", "tag": "matrix"},
        lambda obj: FanTag.objects.filter(fan=obj, tag__name="matrix").exists(),
    ),
    (
        "accounts.Fan",
        "add_to_contact_list",
        "edit_audience",
        lambda p: p.fan,
        {"_apply": "1", "new_list": "Matrix new"},
        lambda obj: ContactListMember.objects.filter(fan=obj, contact_list__name="Matrix new").exists(),
    ),
    (
        "accounts.Fan",
        "remove_from_contact_list",
        "edit_audience",
        _listed_fan,
        {"_apply": "1", "contact_list": "__list__"},
        lambda obj: not ContactListMember.objects.filter(fan=obj).exists(),
    ),
    (
        "messaging.Campaign",
        "approve_selected",
        "approve",
        lambda p: _campaign(p, C.AWAITING_APPROVAL),
        {},
        lambda obj: Campaign.objects.get(pk=obj.pk).status != C.AWAITING_APPROVAL,
    ),
    (
        "messaging.Campaign",
        "cancel_selected",
        "compose",
        lambda p: _campaign(p, C.SCHEDULED),
        {},
        lambda obj: Campaign.objects.get(pk=obj.pk).status == C.CANCELLED,
    ),
    (
        "messaging.Campaign",
        "pause_selected",
        "compose",
        lambda p: _campaign(p, C.SENDING),
        {},
        lambda obj: Campaign.objects.get(pk=obj.pk).status == C.PAUSED,
    ),
    (
        "messaging.Campaign",
        "resume_selected",
        "compose",
        lambda p: _campaign(p, C.PAUSED),
        {},
        lambda obj: Campaign.objects.get(pk=obj.pk).status != C.PAUSED,
    ),
    (
        "accounts.TeamMember",
        "remove_selected",
        "manage_team",
        _spare_member,
        {},
        lambda obj: not TeamMember.objects.filter(pk=obj.pk).exists(),
    ),
    (
        "accounts.Invite",
        "revoke_selected",
        "manage_team",
        _invite,
        {},
        lambda obj: Invite.objects.get(pk=obj.pk).status == Invite.Status.REVOKED,
    ),
]


def _snapshot(obj):
    fresh = type(obj).objects.filter(pk=obj.pk).first()
    return model_to_dict(fresh) if fresh is not None else None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("label", "action", "capability", "make", "data", "acted"), ACTIONS, ids=[a[1] for a in ACTIONS]
)
def test_admin_actions_that_write(client, personas, role, label, action, capability, make, data, acted):
    target = make(personas)
    data = dict(data)
    if data.get("contact_list") == "__list__":
        data["contact_list"] = str(ContactList.objects.get(talent=personas.talent, name="Matrix list").pk)
    before, events = _snapshot(target), AuditEvent.objects.count()
    client.force_login(_user(personas, role))
    response = client.post(
        _admin_url(label, "changelist"), {"action": action, "_selected_action": [target.pk], "index": 0, **data}
    )
    allowed = _may(role, capability) and role != "other_manager"  # the row is personas.talent's
    if not _may(role, PAGES[label][0]):
        assert response.status_code == 403, (action, role)  # the page itself is closed to them
    else:
        assert response.status_code in (200, 302), (action, role)  # a message, never a bare 403
    if allowed:
        assert acted(target), (action, role)
    else:
        assert _snapshot(target) == before and not acted(target), (action, role)
        assert AuditEvent.objects.count() == events, (action, role)


# --- exports ----------------------------------------------------------------------------------
EXPORTS = ["segment-admin", "list-admin", "segment-api", "list-api"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", EXPORTS)
def test_export_endpoints(client, personas, role, endpoint):
    segment = Segment.objects.filter(talent=personas.talent).first() or Segment.objects.create(
        talent=personas.talent, name="Everyone", definition={"all": []}
    )
    contact_list = ContactList.objects.create(talent=personas.talent, name="Export me")
    url = {
        "segment-admin": reverse("admin:messaging_segment_export", args=[segment.pk]),
        "list-admin": reverse("admin:messaging_contactlist_export", args=[contact_list.pk]),
        "segment-api": f"/api/segments/{segment.pk}/export/",
        "list-api": f"/api/contact-lists/{contact_list.pk}/export/",
    }[endpoint]
    client.force_login(_user(personas, role))
    response = client.get(url)
    if role in ("other_manager", "outsider"):
        assert response.status_code == 404, (endpoint, role)  # another talent's audience does not exist for them
    elif _may(role, "export"):
        assert response.status_code == 200, (endpoint, role)
    else:
        assert response.status_code == 403, (endpoint, role)
    if endpoint.endswith("-api") and response.status_code == 200:
        assert b"phone" in b"".join(response.streaming_content)[:200]


def test_expired_invites_are_not_revocable_twice(personas):
    invite = _invite(personas)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert team.invite_revoke(invite=invite, actor=personas.owner)
    assert not team.invite_revoke(invite=invite, actor=personas.owner)
