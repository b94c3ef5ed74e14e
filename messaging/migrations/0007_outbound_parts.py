# "Segment" means an audience segment only; the billed SMS kind is "SMS parts" (issue 9).
# The column keeps its name, so this migration changes no SQL.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("messaging", "0006_outbound_partial_indexes"), ("accounts", "0005_talent_parts_per_second")]

    # State only: the column is the same before and after.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name="outboundmessage", old_name="segments", new_name="parts"),
                migrations.AlterField(
                    model_name="outboundmessage",
                    name="parts",
                    field=models.PositiveSmallIntegerField("SMS parts", db_column="segments", default=1),
                ),
            ]
        )
    ]
