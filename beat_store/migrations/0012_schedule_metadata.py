from django.db import migrations, models

import beat_store.models


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0011_schedule_keep_runs_days_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="schedule",
            name="metadata",
            field=models.JSONField(
                blank=True,
                default=dict,
                encoder=beat_store.models.UnescapedJSONEncoder,
                help_text=(
                    "Your own notes on the schedule (owner, ticket, team...), a JSON object; never sent to the task."
                ),
            ),
        ),
    ]
