"""A user may belong to several sites (UserProfile.sites) or to all of them (all_sites).

Schema only; 0005 fills the new fields from the old `site` and 0006 removes it (data and schema
changes in separate migrations: PostgreSQL refuses to alter a table with pending trigger events).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_job_heartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="userprofile",
            name="all_sites",
            field=models.BooleanField(
                default=False, help_text="Sees every site's patients, whatever sites are listed.", verbose_name="all sites"
            ),
        ),
        migrations.AddField(
            model_name="userprofile",
            name="sites",
            field=models.ManyToManyField(
                blank=True,
                help_text="The sites whose patients this user may see and work on.",
                related_name="+",
                to="registry.site",
            ),
        ),
    ]
