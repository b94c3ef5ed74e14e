# A STOP's suppression of the fan's waiting one-to-one texts by fan (issue 10, eighth session).
# Built CONCURRENTLY on PostgreSQL (the outbound table is the biggest: its writes must not block
# during an upgrade, docs/OPERATIONS.md); SQLite, the embedded default, builds it as usual.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0015_production_sender_30034"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="outboundmessage",
            index=models.Index(
                condition=models.Q(("campaign__isnull", True), ("status", "pending")),
                fields=["fan"],
                name="outbound_pending_fan",
            ),
        ),
    ]
