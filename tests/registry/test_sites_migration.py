"""Migrations registry 0004-0006 and analytics 0003-0005: existing users keep the access they had
(deny-by-default only for new users), analysis runs keep their scope, and free-text ICS sources
are mapped to the list, audited."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("registry", "0003_job_heartbeat"), ("analytics", "0002_job_heartbeat")]
AFTER = [("registry", "0006_remove_userprofile_site"), ("analytics", "0005_remove_analysisrun_site")]

data_migration = importlib.import_module("registry.migrations.0005_user_sites_and_ics_sources_data")


def test_free_text_sources_map_to_the_list():
    assert {
        text: data_migration.ics_source_code(text)
        for text in (
            "",
            "registry import",
            "Study core lab",
            "IVUS core lab 2019",
            "scoring v2, reader B",
            "synthetic",
            "imported from the old database",
            "Dr Jansen's spreadsheet",
            "  Other   SOURCE ",
        )
    } == {
        "": "",
        "registry import": "registry import",
        "Study core lab": "study core lab",
        "IVUS core lab 2019": "study core lab",
        "scoring v2, reader B": "earlier scoring software",
        "synthetic": "synthetic",
        "imported from the old database": "registry import",
        "Dr Jansen's spreadsheet": "other source",
        "  Other   SOURCE ": "other source",
    }


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_users_keep_their_access_runs_their_scope_and_sources_are_mapped_with_an_audit():
    old = _migrate(BEFORE)
    try:
        User, Site = old.get_model("auth", "User"), old.get_model("registry", "Site")
        Profile, Patient = old.get_model("registry", "UserProfile"), old.get_model("registry", "Patient")
        Run = old.get_model("analytics", "AnalysisRun")
        emc, oth = Site.objects.create(code="EMC", name="E"), Site.objects.create(code="OTH", name="O")
        no_profile, no_site, one_site = (User.objects.create(username=n) for n in ("no-profile", "no-site", "one-site"))
        Profile.objects.create(user=no_site, site=None)
        Profile.objects.create(user=one_site, site=oth)
        sources = {
            "P1": "IVUS core lab 2019",
            "P2": "scoring v2, reader B",
            "P3": "registry import",
            "P4": "",
            "P5": "Dr Jansen's spreadsheet",
        }
        for study_id, source in sources.items():
            Patient.objects.create(study_id=study_id, site=emc, index_date="2015-01-01", ics_imported_source=source)
        site_run = Run.objects.create(spec={}, spec_hash="h", site=oth)
        all_run = Run.objects.create(spec={}, spec_hash="h", site=None)

        new = _migrate(AFTER)

        Profile, Patient = new.get_model("registry", "UserProfile"), new.get_model("registry", "Patient")
        Audit, Run = new.get_model("registry", "AuditEntry"), new.get_model("analytics", "AnalysisRun")
        assert {p.user.username: (p.all_sites, sorted(s.code for s in p.sites.all())) for p in Profile.objects.all()} == {
            "no-profile": (True, []),
            "no-site": (True, []),
            "one-site": (False, ["OTH"]),
        }
        assert {p.study_id: (p.ics_imported_source, p.version) for p in Patient.objects.all()} == {
            "P1": ("study core lab", 2),
            "P2": ("earlier scoring software", 2),
            "P3": ("registry import", 1),
            "P4": ("", 1),
            "P5": ("other source", 2),
        }
        assert sorted(
            (a.patient.study_id, a.action, a.username, a.changes["ics_imported_source"], a.reason)
            for a in Audit.objects.all()
        ) == [
            ("P1", "update", "system", ["IVUS core lab 2019", "study core lab"], data_migration.REASON),
            ("P2", "update", "system", ["scoring v2, reader B", "earlier scoring software"], data_migration.REASON),
            ("P5", "update", "system", ["Dr Jansen's spreadsheet", "other source"], data_migration.REASON),
        ]
        assert {r.pk: r.site_ids for r in Run.objects.all()} == {site_run.pk: [oth.pk], all_run.pk: None}
        assert no_profile.pk in set(Profile.objects.values_list("user_id", flat=True))
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # as the other tests expect
