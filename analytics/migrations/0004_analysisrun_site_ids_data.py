"""A run on one site's patients keeps that site ([id]); a run on all sites keeps None. Reversed, a
run over several sites gets no site, which the old rule showed only to users of all sites."""

from django.db import migrations


def forward(apps, schema_editor):
    AnalysisRun = apps.get_model("analytics", "AnalysisRun")
    for run in AnalysisRun.objects.filter(site__isnull=False).only("pk", "site_id"):
        AnalysisRun.objects.filter(pk=run.pk).update(site_ids=[run.site_id])


def backward(apps, schema_editor):
    AnalysisRun = apps.get_model("analytics", "AnalysisRun")
    for run in AnalysisRun.objects.filter(site_ids__isnull=False).only("pk", "site_ids"):
        site_id = run.site_ids[0] if len(run.site_ids) == 1 else None
        AnalysisRun.objects.filter(pk=run.pk).update(site_id=site_id)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_analysisrun_site_ids"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
    ]
