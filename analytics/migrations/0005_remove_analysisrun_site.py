from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_analysisrun_site_ids_data"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="analysisrun",
            name="site",
        ),
    ]
