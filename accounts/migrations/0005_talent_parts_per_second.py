# "Segment" means an audience segment only; the billed SMS kind is "SMS parts" (issue 9).
# The column keeps its name, so this migration changes no SQL.
import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_index_tuning")]

    # State only: the column is the same before and after.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(
                    model_name="talent", old_name="segments_per_second", new_name="parts_per_second"
                ),
                migrations.AlterField(
                    model_name="talent",
                    name="parts_per_second",
                    field=models.PositiveIntegerField(
                        "SMS parts per second",
                        db_column="segments_per_second",
                        default=1,
                        help_text="Carrier throughput of the sender in SMS parts per second: 1 long code, 3 toll-free, 100 short code.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(10000),
                        ],
                    ),
                ),
            ]
        )
    ]
