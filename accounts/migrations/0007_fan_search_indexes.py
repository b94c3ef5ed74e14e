"""Indexes for the Fans page's name and email search on PostgreSQL (issue 12).

The console searches `^first_name`, `^last_name`, `^email`, which Django writes as
`UPPER("first_name"::text) LIKE UPPER('ann%')`. Only an expression index on UPPER(col) with the
text_pattern_ops operator class serves a LIKE prefix under a non-C collation; leading with
talent_id keeps each talent's search to its own fans. Django's Index() cannot say this portably
(OpClass() compiles to SQL that SQLite refuses), so the indexes are created here for PostgreSQL
only; SQLite (the embedded default, small communities) searches without them. No model state
changes, so makemigrations stays quiet. A phone search needs none: it is parsed to E.164 and
matched on the unique (talent, phone) index.
"""

from django.db import migrations

INDEXES = {
    "fan_search_first_name": "first_name",
    "fan_search_last_name": "last_name",
    "fan_search_email": "email",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON accounts_fan (talent_id, (UPPER({column}::text)) text_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_team_invite")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
