"""The old one-site field (its value is in `sites` since 0005), and the ICS source list."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_user_sites_and_ics_sources_data"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="userprofile",
            name="site",
        ),
        migrations.AlterField(
            model_name="patient",
            name="ics_imported_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("registry import", "Registry import"),
                    ("study core lab", "Study core lab"),
                    ("earlier scoring software", "Earlier scoring software"),
                    ("synthetic", "Synthetic data (demo and tests)"),
                    ("other source", "Other source"),
                ],
                max_length=200,
            ),
        ),
    ]
