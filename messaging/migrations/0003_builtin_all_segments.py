"""Hand-written: give every existing talent its built-in `all` segment (new talents get it by signal)."""

from django.db import migrations

BUILTIN_DEFINITION = {"all": [{"field": "status", "op": "in", "value": ["active"]}]}


def create_builtin_segments(apps, schema_editor):
    Talent = apps.get_model("accounts", "Talent")
    Segment = apps.get_model("messaging", "Segment")
    have = set(Segment.objects.filter(is_builtin=True).values_list("talent_id", flat=True))
    for talent_id in Talent.objects.exclude(id__in=have).values_list("id", flat=True):
        # A team may already have a segment they called "all": keep theirs, rename it out of the way.
        Segment.objects.filter(talent_id=talent_id, name="all", is_builtin=False).update(name="all (renamed)")
        Segment.objects.create(
            talent_id=talent_id,
            name="all",
            description="All active fans.",
            definition=BUILTIN_DEFINITION,
            is_builtin=True,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_fan_audience_indexes"),
        ("messaging", "0002_audience_models"),
    ]

    operations = [
        migrations.RunPython(create_builtin_segments, migrations.RunPython.noop),
    ]
