"""Audiences: static contact lists and live segments of one talent's fans."""

from __future__ import annotations

from django.db import models

from accounts.models import Fan, Talent


class ContactList(models.Model):
    """A named, static set of a talent's fans."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="contact_lists")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    fans = models.ManyToManyField(Fan, through="ContactListMember", related_name="contact_lists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["talent", "name"], name="contactlist_name_unique")]

    def __str__(self) -> str:
        return self.name


class ContactListMember(models.Model):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships")
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="list_memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact_list", "fan"], name="contactlist_member_unique")]
        indexes = [models.Index(fields=["fan", "contact_list"], name="contactlist_member_fan")]

    def __str__(self) -> str:
        return f"fan {self.fan_id} in list {self.contact_list_id}"


class Segment(models.Model):
    """A saved filter over a talent's fans, evaluated live when used (see messaging/segments.py)."""

    talent = models.ForeignKey(Talent, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    # Structured rule tree, validated on save and compiled to one SQL query.
    definition = models.JSONField(default=dict, blank=True)
    # The built-in `all` segment (all active fans) that every talent has and nobody may delete.
    is_builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_builtin", "name"]
        constraints = [models.UniqueConstraint(fields=["talent", "name"], name="segment_name_unique")]

    def __str__(self) -> str:
        return self.name
