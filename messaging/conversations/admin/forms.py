"""The Inbox's forms: reply, note, snooze, a poll's answers, the inbox settings."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from messaging.conversations import hours, services
from messaging.conversations.models import InboxSettings, Poll
from messaging.conversations.polls import normalise

SNOOZE_CHOICES = [("1", "1 hour"), ("4", "4 hours"), ("24", "Tomorrow (24 hours)"), ("72", "3 days"), ("168", "A week")]


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Reply",
        max_length=services.MAX_REPLY_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "class": "fc-reply-body", "maxlength": services.MAX_REPLY_CHARS}),
        help_text="Sent by SMS from the talent's number. 160 GSM-7 characters make one SMS part.",
    )
    seen_reply_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    send_anyway = forms.BooleanField(required=False, label="Send mine anyway")
    # "Send later": read in the talent's time zone (the view validates inside timezone.override).
    send_at = forms.DateTimeField(
        required=False,
        label="Send later at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text="In the talent's time zone. Moved out of the fan's quiet hours if it falls in them.",
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Private note",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Never sent to the fan.",
    )


class SnoozeForm(forms.Form):
    hours = forms.ChoiceField(choices=[("", "Pick a time")] + SNOOZE_CHOICES, required=False, label="Snooze for")
    until = forms.DateTimeField(
        required=False,
        label="or until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def until_time(self) -> dt.datetime:
        # A typed time is read in the console's time zone (named beside the field); Django's
        # DateTimeField makes it aware in that zone already.
        if self.cleaned_data.get("until"):
            return self.cleaned_data["until"]
        if self.cleaned_data.get("hours"):
            return timezone.now() + dt.timedelta(hours=int(self.cleaned_data["hours"]))
        raise services.ConversationError("Pick how long to snooze it for.")


class PollForm(forms.ModelForm):
    answers = forms.CharField(
        label="Answers",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text='One answer a line: its number or word, "=", its label, then "|" and other words that count '
        'for it. Example: "1 = Paris | paris, france". A reply that is exactly one of these is a vote.',
    )

    class Meta:
        model = Poll
        fields = ["campaign", "question", "window_hours"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["answers"].initial = "\n".join(
                f"{o['key']} = {o.get('label', '')}" + (f" | {', '.join(o['keywords'])}" if o.get("keywords") else "")
                for o in self.instance.options
            )

    def clean_answers(self) -> list[dict]:
        options, seen = [], set()
        for number, line in enumerate(self.cleaned_data["answers"].splitlines(), start=1):
            if not line.strip():
                continue
            head, _, rest = line.partition("|")
            key, _, label = head.partition("=")
            key = normalise(key)
            if not key:
                raise forms.ValidationError(f"Line {number}: start with the answer's number or word.")
            keywords = [normalise(k) for k in rest.split(",") if normalise(k)]
            for word in [key, *keywords]:
                if word in seen:
                    raise forms.ValidationError(f"Line {number}: {word!r} already counts for another answer.")
                seen.add(word)
            options.append({"key": key, "label": label.strip() or key, "keywords": keywords})
        if len(options) < 2:
            raise forms.ValidationError("A poll needs at least two answers.")
        return options

    def save(self, commit=True):
        self.instance.options = self.cleaned_data["answers"]
        return super().save(commit)


MAX_HOLIDAYS = 400
DAY_CHOICES = [(str(n), name) for n, name in hours.DAY_NAMES.items()]


class InboxSettingsForm(forms.ModelForm):
    days = forms.MultipleChoiceField(
        label="Business days",
        choices=DAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="No day ticked: no business hours (never out of hours, no acknowledgement text).",
    )
    holiday_dates = forms.CharField(
        label="Closed on these dates",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "2026-12-25\n2027-01-01"}),
        help_text="One date a line (YYYY-MM-DD, the talent's time zone): closed all day; fans who write get "
        "the acknowledgement text.",
    )

    class Meta:
        model = InboxSettings
        fields = ["auto_assign", "member_cap", "opens_at", "closes_at", "away_enabled", "away_text"]
        widgets = {
            "opens_at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "closes_at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "away_text": forms.Textarea(attrs={"rows": 3, "maxlength": 320}),
        }
        help_texts = {
            "opens_at": "In the talent's time zone (the talent's settings).",
            "closes_at": "In the talent's time zone. Earlier than the opening time = an overnight shift "
            "(22:00-02:00 ends the next morning).",
            "away_text": "Sent once per fan per out-of-hours stretch, only to real replies from active fans.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = sorted(str(d) for d in self.instance.days)
        self.fields["holiday_dates"].initial = "\n".join(sorted(str(d) for d in self.instance.holidays or []))
        self.fields["member_cap"].min_value = 1

    def clean(self):
        data = super().clean()
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and opens == closes:
            self.add_error("closes_at", "Opening and closing at the same time leaves no hours: pick when you close.")
        if data.get("member_cap") is not None and data["member_cap"] < 1:
            self.add_error("member_cap", "At least 1.")
        if data.get("away_enabled"):
            if not (data.get("away_text") or "").strip():
                self.add_error("away_text", "Write the acknowledgement text, or turn it off.")
            if not data.get("days"):
                self.add_error("days", "Tick the business days first: outside which hours should it go?")
        return data

    def clean_holiday_dates(self) -> list[str]:
        dates = set()
        for number, part in enumerate(self.cleaned_data["holiday_dates"].replace(",", "\n").splitlines(), start=1):
            if not part.strip():
                continue
            try:
                dates.add(dt.date.fromisoformat(part.strip()).isoformat())
            except ValueError:
                raise forms.ValidationError(f"Line {number}: {part.strip()!r} is not a date (YYYY-MM-DD).") from None
        if len(dates) > MAX_HOLIDAYS:
            raise forms.ValidationError(f"At most {MAX_HOLIDAYS} dates.")
        return sorted(dates)

    def save(self, commit=True):
        self.instance.holidays = self.cleaned_data.get("holiday_dates") or []
        self.instance.business_days = ",".join(sorted(self.cleaned_data.get("days") or []))
        return super().save(commit)
