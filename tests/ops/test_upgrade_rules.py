"""docs/OPERATIONS.md "Upgrades (migrate while running)", held against the migrations (issue 17 §2).

`migrate` runs while the previous release still serves webhooks and sends. On the tables that grow
with the fans (fans, consent records, both message tables, clicks), that is safe only when
- a new column is nullable or has a database default (the old code's INSERTs leave it out), and
- a new index or constraint is built CONCURRENTLY (a plain CREATE INDEX blocks the table's writes,
  the webhooks' and the sends', for the whole build).
The migrations that broke the second rule before this test existed are listed here and in the
doc, with what to do about them; a new one that breaks either rule fails this test.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader

BIG_TABLES = {"fan", "consentrecord", "outboundmessage", "inboundmessage", "click", "fantag", "listmembership"}
# Indexes built on a big table with writes blocked, by (app, migration): the doc names each one.
BLOCKING_INDEX_MIGRATIONS = {
    ("accounts", "0002_fan_audience_indexes"),
    ("accounts", "0004_index_tuning"),
    ("accounts", "0010_fan_list_index_api"),
    ("consent", "0003_index_tuning"),
    ("messaging", "0005_campaign_sending"),
    ("messaging", "0006_outbound_partial_indexes"),
    ("messaging", "0008_priority_lane"),
}
OPERATIONS_MD = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"


def _project_migrations():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app in ("accounts", "consent", "messaging"):
            created = {op.name.lower() for op in migration.operations if isinstance(op, ops.CreateModel)}
            yield app, name, migration, created


def test_new_columns_on_big_tables_can_be_left_out_by_the_old_code():
    wrong = []
    for app, name, migration, created in _project_migrations():
        for op in migration.operations:
            if isinstance(op, ops.AddField) and op.model_name.lower() in BIG_TABLES - created:
                field = op.field
                if not (field.null or field.has_db_default() or field.many_to_many):
                    wrong.append(f"{app} {name}: {op.model_name}.{op.name} is NOT NULL without db_default")
    assert wrong == []


def test_indexes_on_big_tables_are_built_concurrently_or_named_in_the_upgrade_doc():
    blocking = set()
    for app, name, migration, created in _project_migrations():
        for op in migration.operations:
            builds = isinstance(op, ops.AddIndex | ops.AddConstraint) and not isinstance(op, AddIndexConcurrently)
            if builds and op.model_name.lower() in BIG_TABLES - created:
                blocking.add((app, name))
                assert (app, name) in BLOCKING_INDEX_MIGRATIONS, (
                    f"{app} {name} builds an index on {op.model_name} with its writes blocked: use "
                    "AddIndexConcurrently in a migration with atomic = False (docs/OPERATIONS.md, Upgrades)"
                )
    assert blocking == BLOCKING_INDEX_MIGRATIONS  # the list stays exact: nothing stale in the doc
    doc = OPERATIONS_MD.read_text()
    for app, name in sorted(BLOCKING_INDEX_MIGRATIONS):
        assert f"{app} {name[:4]}" in doc, f"docs/OPERATIONS.md does not name {app} {name}"
