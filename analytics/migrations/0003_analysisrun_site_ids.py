"""An analysis run's scope is the set of its creator's sites (registry: a user may have several).
Schema only; 0004 copies the old one-site scope and 0005 removes it (separate migrations: PostgreSQL
refuses to alter a table with pending trigger events)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_job_heartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="analysisrun",
            name="site_ids",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
