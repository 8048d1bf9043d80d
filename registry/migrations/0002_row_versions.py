from django.db import migrations, models


def _version():
    return models.PositiveIntegerField(default=1, help_text="Row version; raised by one on every change.")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial_registry")]

    operations = [
        migrations.AddField(model_name=name, name="version", field=_version())
        for name in ("patient", "patientidentity", "followupcontact", "clinicalevent")
    ]
