"""The Fans pages' parts (accounts.admin.FanAdmin registers them): filters, search, Add fan, the profile
and its actions (data export, erase, lists, tags)."""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.conf import settings as django_settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from unfold.contrib.filters.admin import DropdownFilter as UnfoldDropdownFilter
from unfold.contrib.filters.admin import TextFilter as UnfoldTextFilter
from unfold.views import ChangeList as UnfoldChangeList

from accounts import current_talent, phones, ratelimit
from accounts.actors import NotAllowed, allows, require
from accounts.audit import audit
from accounts.models import Fan, Talent
from accounts.services import fan_get_or_create_pending
from accounts.tokens import JOIN_LINK
from consent import texts as consent_texts
from messaging.audience import services as audience
from messaging.audience.admin.common import render_form
from messaging.automations import joins as automation_joins
from messaging.campaigns.models import Click
from messaging.conversations.priority import priority_message_queue
from messaging.models import ContactList, ContactListMember, FanTag, Tag
from messaging.privacy.services import fan_data_export, fan_erase
from messaging.sms.models import OutboundMessage

# --- the Fans pages (registered by accounts.admin.FanAdmin): search, filters, add, the profile ----------------
# Filters offer bounded choices only: a talent's lists and tags (the first FILTER_CHOICES by name),
# fixed windows for dates and engagement, text boxes for country and region. Never a DISTINCT over
# a million fans to build a dropdown.
FILTER_CHOICES = 200
ENGAGEMENT_DAYS = 30


def _talent_filter_ids(request) -> list[int] | None:
    ids = current_talent.talent_ids(request, "view")
    return None if ids is None else sorted(ids)


class _NamedRowsFilter(UnfoldDropdownFilter):
    model: type = ContactList
    through: type = ContactListMember

    def lookups(self, request, model_admin):
        rows = self.model.objects.order_by("name")
        ids = _talent_filter_ids(request)
        if ids is not None:
            rows = rows.filter(talent_id__in=ids)
        return [(str(pk), name) for pk, name in rows.values_list("pk", "name")[:FILTER_CHOICES]]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            pk = int(value)
        except ValueError:
            return queryset.none()
        column = "contact_list_id" if self.through is ContactListMember else "tag_id"
        return queryset.filter(Exists(self.through.objects.filter(fan_id=OuterRef("pk"), **{column: pk})))


class FanListFilter(_NamedRowsFilter):
    title = "contact list"
    parameter_name = "list"
    model = ContactList
    through = ContactListMember


class FanTagFilter(_NamedRowsFilter):
    title = "tag"
    parameter_name = "tag"
    model = Tag
    through = FanTag


class FanCountryFilter(UnfoldTextFilter):
    title = "country (two-letter code)"
    parameter_name = "country"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().upper()
        return queryset.filter(country=value) if value else queryset


class FanRegionFilter(UnfoldTextFilter):
    title = "region / state"
    parameter_name = "region"

    def queryset(self, request, queryset):
        # Exact, as stored ("TX", "Ontario"): UPPER(region) would defeat the (talent, country, region) index.
        value = (self.value() or "").strip()
        return queryset.filter(region=value) if value else queryset


class FanJoinedFilter(UnfoldDropdownFilter):
    title = "joined"
    parameter_name = "joined"
    WINDOWS = {"7": 7, "30": 30, "90": 90, "365": 365}

    def lookups(self, request, model_admin):
        return [
            ("7", "In the last 7 days"),
            ("30", "In the last 30 days"),
            ("90", "In the last 90 days"),
            ("365", "In the last year"),
            ("older", "More than a year ago"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in self.WINDOWS:
            return queryset.filter(joined_at__gte=timezone.now() - dt.timedelta(days=self.WINDOWS[value]))
        if value == "older":
            return queryset.filter(joined_at__lt=timezone.now() - dt.timedelta(days=365))
        return queryset


class FanEngagementFilter(UnfoldDropdownFilter):
    title = "engagement"
    parameter_name = "engagement"
    COLUMNS = {"replied": "last_reply_at", "clicked": "last_click_at", "received": "last_sent_at"}

    def lookups(self, request, model_admin):
        return [
            ("replied", f"Replied in the last {ENGAGEMENT_DAYS} days"),
            ("clicked", f"Clicked in the last {ENGAGEMENT_DAYS} days"),
            ("received", f"Received a text in the last {ENGAGEMENT_DAYS} days"),
            ("never", "Never texted by us"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in self.COLUMNS:
            since = timezone.now() - dt.timedelta(days=ENGAGEMENT_DAYS)
            return queryset.filter(**{f"{self.COLUMNS[value]}__gte": since})
        if value == "never":
            return queryset.filter(last_sent_at__isnull=True)
        return queryset


FAN_FILTERS = [
    "status",
    FanListFilter,
    FanTagFilter,
    FanCountryFilter,
    FanRegionFilter,
    FanJoinedFilter,
    FanEngagementFilter,
    "source",
    "shares_with_partners",
]


def fan_search(request, queryset, term: str):
    """A number in any format ("4155552671", "(415) 555-2671", "+1 415-555-2671") finds its fan:
    parsed with the current talent's country to E.164 and matched exactly (the unique (talent,
    phone) index). Anything else is left to the name and email prefix search (indexed on
    PostgreSQL, see accounts/migrations). Returns the filtered queryset, or None to fall back."""
    term = (term or "").strip()
    if not term or not any(ch.isdigit() for ch in term) or "@" in term:
        return None
    talent_id = current_talent.current_id(request)
    talent = Talent.objects.filter(pk=talent_id).first() if talent_id else None
    region = audience.talent_region(talent) if talent else django_settings.PHONENUMBER_DEFAULT_REGION
    try:
        e164 = phones.parse(term, region=region)
    except phones.PhoneError:
        return None
    return queryset.filter(phone=e164)


class FanAddForm(forms.Form):
    """A fan the team adds by hand: how they agreed is required, or a signup link goes instead."""

    phone = forms.CharField(
        max_length=32,
        label="Mobile number",
        help_text="Any format; numbers without +country code are read in the talent's country.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    first_name = forms.CharField(max_length=80, required=False)
    last_name = forms.CharField(max_length=80, required=False)
    email = forms.EmailField(required=False)
    how = forms.ChoiceField(
        label="How did this fan agree to receive texts?",
        choices=[
            *audience.CONSENT_HOW.items(),
            ("send_link", "They have not yet: text them a signup link (they join on the signup page)"),
        ],
        widget=forms.RadioSelect,
    )
    consent_note = forms.CharField(
        max_length=150,
        required=False,
        label="Where the evidence is",
        help_text="e.g. 'Paper form, Chicago show, box 3'. Kept on the fan's consent record.",
    )
    confirm = forms.BooleanField(
        required=False,
        label="I confirm this fan agreed to receive recurring texts from the talent",
        help_text="Not needed when you send a signup link.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("how") and cleaned["how"] != "send_link" and not cleaned.get("confirm"):
            self.add_error("confirm", "Confirm the fan agreed, or choose to send them a signup link.")
        return cleaned


def fan_signup_link_send(request, *, talent: Talent, raw_phone: str) -> str:
    """Text a signup link to a number the team typed, under the signup form's own limits.

    Lives in the console layer because it queues a text (the priority lane is above audience).
    Same country, STOP and erasure refusals as an add (audience.console_number_check), and the
    same per-number and per-address rate limits as the signup form's code texts, so the console
    cannot be used to flood a number. Nothing is written but the queued text and an audit row;
    the fan becomes a fan when they complete the signup page (source web, their own consent).
    """
    e164 = audience.console_number_check(talent=talent, raw_phone=raw_phone)
    if not ratelimit.hit("signup-ip", ratelimit.client_ip(request), django_settings.RATELIMIT_SIGNUP_PER_IP):
        raise audience.AudienceError("Too many signup texts from here in the last hour; try again later.")
    if not ratelimit.hit("signup-phone", f"{talent.pk}:{e164}", django_settings.RATELIMIT_SIGNUP_PER_PHONE):
        raise audience.AudienceError("This number was sent several signup texts in the last hour; try again later.")
    with transaction.atomic():
        # The link is made as the text leaves (issue 15 §4): a stored body with a live link would let
        # anyone on the team open it and join as that number. The placeholder needs the number's
        # pending row, as a stranger's "hi" makes (pending is not a fan: no consent, no campaigns).
        fan, _ = fan_get_or_create_pending(talent=talent, phone=e164)
        priority_message_queue(
            talent=talent,
            fan=fan,
            to=e164,
            body=consent_texts.join_link(talent, JOIN_LINK),
            lane=OutboundMessage.Lane.LINK,
        )
        audit("fan.signup_link_sent", talent=talent, actor=request.user, via="console")
    return e164


def fan_add_view(modeladmin, request):
    talent_id = current_talent.current_id(request)
    if talent_id is None:
        modeladmin.message_user(request, "Choose a talent in the header first: a fan belongs to one.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:accounts_fan_changelist"))
    talent = Talent.objects.get(pk=talent_id)
    form = FanAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["how"] == "send_link":
                e164 = fan_signup_link_send(request, talent=talent, raw_phone=data["phone"])
                modeladmin.message_user(
                    request,
                    f"Signup link texted to {phones.display(e164)}. They become a fan when they complete the page.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:accounts_fan_changelist"))
            with transaction.atomic():
                fan = audience.fan_console_add(
                    talent=talent,
                    phone=data["phone"],
                    profile={k: data[k] for k in ("first_name", "last_name", "email")},
                    consent_how=data["how"],
                    consent_note=data["consent_note"],
                    actor=request.user,
                )
                # The confirmation every new fan gets (program, frequency, HELP/STOP), as on signup.
                priority_message_queue(
                    talent=talent,
                    fan=fan,
                    to=str(fan.phone),
                    body=consent_texts.signup_confirmation(talent),
                    lane=OutboundMessage.Lane.COMPLIANCE,
                )
                automation_joins.on_fan_joined(fan=fan, source="console")
        except (audience.AudienceError, NotAllowed) as exc:
            form.add_error("phone", str(exc))
        else:
            modeladmin.message_user(request, f"{fan} added; they were texted the welcome message.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:accounts_fan_change", args=[fan.pk]))
    return render_form(
        request,
        modeladmin,
        "Add a fan",
        form,
        submit="Add fan",
        intro=f"Adding to {talent}. A fan added by hand is recorded as added in the console, with how they agreed.",
    )


# --- the fan's profile --------------------------------------------------------------------------------------
PROFILE_ROWS = 20
REQUESTED_VIA = [("email", "By email"), ("phone", "By phone"), ("text", "By text message"), ("other", "Other")]


class FanRequestForm(forms.Form):
    """A data request the fan made to the team: how it came in and why, both audited."""

    requested_via = forms.ChoiceField(choices=REQUESTED_VIA, label="The fan asked")
    reason = forms.CharField(
        max_length=200, label="Reason / reference", help_text="e.g. 'email of 3 March, ticket 512'"
    )


class FanEraseForm(FanRequestForm):
    confirm = forms.BooleanField(
        label="Erase this fan's personal data and texts for good",
        help_text="Their number is kept only as a one-way hash, so an import cannot add them back.",
    )


class FanListForm(forms.Form):
    contact_list = forms.ModelChoiceField(queryset=ContactList.objects.none(), label="Add to list")

    def __init__(self, *args, talent_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].queryset = ContactList.objects.filter(talent_id=talent_id)


class FanTagForm(forms.Form):
    tag = forms.CharField(max_length=60, label="Tag", help_text="An existing tag, or a new one.")


def fan_profile_context(request, fan: Fan) -> dict:
    """What the fan's page shows beside the edit form: consents with their versions, lists,
    tags, campaigns received, clicks, the latest texts both ways (the conversation)."""
    campaigns = list(
        fan.outbound_messages.filter(kind=OutboundMessage.Kind.CAMPAIGN)
        .select_related("campaign")
        .order_by("-created_at")[:PROFILE_ROWS]
    )
    clicks = list(
        Click.objects.filter(fan=fan).select_related("link", "link__campaign").order_by("-clicked_at")[:PROFILE_ROWS]
    )
    consents = list(fan.consents.select_related("terms", "privacy").order_by("-created_at")[:PROFILE_ROWS])
    lists = list(ContactList.objects.filter(memberships__fan=fan).order_by("name"))
    tags = list(Tag.objects.filter(fan_tags__fan=fan).order_by("name"))
    can_edit = allows(request.user, "edit_audience", fan.talent_id)
    return {
        "fan_profile": {
            "fan": fan,
            "tz": str(fan.tz),
            "campaigns": campaigns,
            "clicks": clicks,
            "consents": consents,
            "lists": lists,
            "tags": tags,
            "inbox_url": reverse("admin:messaging_inboundmessage_changelist") + f"?fan__id__exact={fan.pk}",
            "can_edit": can_edit and fan.status != Fan.Status.ERASED,
            "list_form": FanListForm(talent_id=fan.talent_id, prefix="list") if can_edit else None,
            "tag_form": FanTagForm(prefix="tag") if can_edit else None,
            "request_form": FanRequestForm(prefix="export") if can_edit else None,
            "erase_form": FanEraseForm(prefix="erase") if can_edit else None,
            "tag_names": list(Tag.objects.filter(talent_id=fan.talent_id).values_list("name", flat=True)[:500]),
        }
    }


def fan_action_view(modeladmin, request, object_id: str, action: str):
    """The profile's buttons: add to list, tag, export the fan's data, erase (POST only)."""
    fan = modeladmin.get_object(request, object_id)
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:accounts_fan_change", args=[fan.pk]))
    require(request.user, "edit_audience", fan.talent_id)
    back = HttpResponseRedirect(reverse("admin:accounts_fan_change", args=[fan.pk]))
    if fan.status == Fan.Status.ERASED:
        modeladmin.message_user(request, "This fan was erased: nothing is left to change.", messages.ERROR)
        return back
    if action == "list":
        form = FanListForm(request.POST, talent_id=fan.talent_id, prefix="list")
        if form.is_valid():
            cl = form.cleaned_data["contact_list"]
            n = audience.contact_list_add_fans(contact_list=cl, fans=Fan.objects.filter(pk=fan.pk), actor=request.user)
            modeladmin.message_user(request, f"Added to {cl}." if n else f"Already in {cl}.", messages.SUCCESS)
        else:
            modeladmin.message_user(request, "Choose one of the talent's lists.", messages.ERROR)
        return back
    if action == "tag":
        form = FanTagForm(request.POST, prefix="tag")
        if form.is_valid():
            try:
                audience.fan_tags_add(
                    talent=fan.talent,
                    tag_name=form.cleaned_data["tag"],
                    fans=Fan.objects.filter(pk=fan.pk),
                    actor=request.user,
                )
            except audience.AudienceError as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
            else:
                modeladmin.message_user(request, f"Tagged {form.cleaned_data['tag']!r}.", messages.SUCCESS)
        else:
            modeladmin.message_user(request, "A tag name has 1 to 60 characters.", messages.ERROR)
        return back
    if action == "export":
        form = FanRequestForm(request.POST, prefix="export")
        if not form.is_valid():
            modeladmin.message_user(request, "Say how the fan asked and why, to export their data.", messages.ERROR)
            return back
        data = fan_data_export(fan=fan)
        audit(
            "fan.data_exported",
            talent=fan.talent,
            actor=request.user,
            obj=fan,
            requested_via=form.cleaned_data["requested_via"],
            reason=form.cleaned_data["reason"],
        )
        response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="fan-{fan.pk}-data.json"'
        response["Cache-Control"] = "no-store"
        return response
    if action == "erase":
        form = FanEraseForm(request.POST, prefix="erase")
        if not form.is_valid():
            modeladmin.message_user(
                request, "To erase, say how the fan asked and why, and tick the confirmation.", messages.ERROR
            )
            return back
        reason = f"fan request by {form.cleaned_data['requested_via']}: {form.cleaned_data['reason']}"
        fan_erase(fan=fan, actor=request.user, reason=reason[:200])
        modeladmin.message_user(request, f"Fan #{fan.pk} erased. The audit log keeps who and why.", messages.SUCCESS)
        return back
    raise Http404("No such action.")


# --- the Fans changelist's rows ------------------------------------------------------------------
class FanChangeList(UnfoldChangeList):
    """The Fans page's 50 rows without phonenumber objects.

    A PhoneNumberField parses every loaded value (phonenumbers.parse, ~0.8 ms) and validates it
    again to print it (~1.7 ms): about a third of a row's rendering. The rows are stored E.164 (the
    services write them so), so the page reads the column as text (`phone_e164`) and never loads
    the field. Only the rows shown: the actions' querysets (cl.get_queryset) are the full ones.
    """

    def get_results(self, request):
        full = self.queryset
        self.queryset = full.defer("phone").annotate(phone_e164=Cast("phone", output_field=CharField()))
        try:
            super().get_results(request)
        finally:
            self.queryset = full


@admin.display(description="Fan")
def fan_name(fan: Fan) -> str:
    """Fan.__str__ without touching the phone field (deferred on the changelist)."""
    name = f"{fan.first_name} {fan.last_name}".strip()
    return name or getattr(fan, "phone_e164", "") or f"Fan #{fan.pk}"


@admin.display(description="Phone", ordering="phone")
def fan_phone(fan: Fan) -> str:
    return getattr(fan, "phone_e164", None) or str(fan.phone)
