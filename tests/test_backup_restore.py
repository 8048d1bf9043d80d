"""backup_registry / restore_registry: a restore brings back the same registry, audit trail and pullbacks.

The round trip runs the real commands in subprocesses: build a registry (services, so the audit trail
is written; an import job with its files; a pullback with its DICOM file), back it up, restore into a
new empty database and empty media, and compare every model's serialised rows and every file's bytes.
On SQLite under `make test`; on PostgreSQL in the services pass. The refusals run in-process.
"""

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from core import backup
from registry.models import ImportJob

ROOT = Path(__file__).resolve().parents[1]

BUILD = """
from datetime import date
from django.core.files.uploadedfile import SimpleUploadedFile
from registry import services
from core.roles import COORDINATOR
from registry.importer import import_job_start
from registry.models import ImportJob, Site
from scoring.models import Pullback
from scoring.services import pullback_upload
from tests.factories import UserFactory
from tests.scoring.pullback_files import phantom_file
import os, pathlib

user = UserFactory(username="coordinator", roles=[COORDINATOR])
site = Site.objects.create(code="EMC", name="Erasmus MC")
base = {"site": site, "sex": "M", "age_at_index": 64, "presentation": "stable", "index_treatment": "PCI",
        "study_vessel": "LAD", "egfr": 81.5}
first = services.patient_create(user=user, data=base | {"study_id": "ICS-B001", "index_date": date(2019, 3, 1)},
                                identity={"name": "Test Person", "hospital_number": "MRN0000001"})
second = services.patient_create(user=user, data=base | {"study_id": "ICS-B002", "index_date": date(2020, 6, 2)})
services.patient_update(user=user, patient=first, data={"egfr": 77.0}, reason="lab value corrected")
services.contact_record(user=user, patient=first, data={"contact_date": date(2021, 1, 5), "method": "phone",
                                                        "vital_status": "alive"})
mi = services.event_record(user=user, patient=first, data={"event_type": "mi", "event_date": date(2020, 2, 3),
                                                           "source": "hospital_record", "target_vessel": True})
services.event_verify(user=user, event=mi, source_document="discharge letter 2020-02-10")
stroke = services.event_record(user=user, patient=second, data={"event_type": "stroke", "event_date": date(2021, 7, 8),
                                                                "source": "gp"})
services.event_verify(user=user, event=stroke, decision="rejected", reason="TIA, not a stroke")
folder = pathlib.Path(os.environ["FIXTURES"])
job = import_job_start(user=user,
                       patients_file=SimpleUploadedFile("patients.csv", (folder / "patients.csv").read_bytes()),
                       events_file=SimpleUploadedFile("events.csv", (folder / "events.csv").read_bytes()))
src = phantom_file(pathlib.Path(os.environ["WORK"]) / "pullback.dcm", n_frames=8, patient_id="MRN0000001")
pullback_upload(user=user, patient=first, uploaded_file=SimpleUploadedFile("pullback.dcm", src.read_bytes()))
job.refresh_from_db()
print("BUILT", job.status, Pullback.objects.count())
"""

DUMP = """
import json, os
from django.core.management import call_command
from django.apps import apps
from django.core import serializers
from django.core.files.storage import default_storage
from core.backup import file_fields
data = {m._meta.label: serializers.serialize("json", m.objects.order_by("pk")) for m in apps.get_models()}
files = {}
for _, field in file_fields():
    for name in field.model.objects.exclude(**{field.name: ""}).values_list(field.name, flat=True):
        with default_storage.open(name, "rb") as f:
            files[name] = f.read().hex()
with open(os.environ["DUMP"], "w") as out:
    json.dump({"models": data, "files": files}, out, sort_keys=True)
"""


# These check a SQLite backup made in the test process; in CI's PostgreSQL pass the PostgreSQL
# round trip (test_..._on_postgresql) covers that database.
sqlite_in_process = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="checks a SQLite backup made in the test process; this run is on PostgreSQL"
)


def _manage(env: dict, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if ok:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def _dump(env: dict, path: Path) -> dict:
    _manage(env | {"DUMP": str(path)}, "shell", "-c", DUMP)
    return json.loads(path.read_text())


def _round_trip(tmp_path: Path, env_of) -> None:
    """Build, back up, restore into `env_of("restored")` (a new empty database and empty media),
    and compare everything. `env_of(name)` gives the subprocess environment of a new installation."""
    original, restored = env_of("original"), env_of("restored")
    work = tmp_path / "work"
    work.mkdir()
    _manage(original, "migrate", "--noinput", "-v0")
    dest = tmp_path / "backup"
    # One process builds, dumps and backs up (each manage.py start costs seconds on a busy machine).
    out = _manage(
        original
        | {
            "FIXTURES": str(ROOT / "tests/fixtures/registry/canonical"),
            "WORK": str(work),
            "DUMP": str(work / "before.json"),
        },
        "shell",
        "-c",
        BUILD + DUMP + f"\ncall_command('backup_registry', {str(dest)!r})\n",
    ).stdout
    assert "BUILT succeeded 1" in out and f"Backup written to {dest}" in out
    before = json.loads((work / "before.json").read_text())
    manifest = json.loads((dest / "manifest.json").read_text())
    assert {name.split("/")[0] for name in manifest["media"]} == {"imports", "pullbacks"}
    assert len(manifest["media"]) == 3
    assert manifest["row_counts"]["registry.Patient"] == 6  # 2 enrolled, 4 imported
    assert manifest["row_counts"]["registry.AuditEntry"] == len(json.loads(before["models"]["registry.AuditEntry"]))

    out = _manage(restored, "restore_registry", str(dest)).stdout
    assert "verified:" in out and "3 media files match the backup" in out
    after = _dump(restored, work / "after.json")
    assert set(after["models"]) == set(before["models"])
    for label in before["models"]:
        assert json.loads(after["models"][label]) == json.loads(before["models"][label]), label
    assert after["files"] == before["files"]
    audit = json.loads(after["models"]["registry.AuditEntry"])
    assert {row["fields"]["action"] for row in audit} >= {"create", "update", "import"}
    assert len(json.loads(after["models"]["scoring.Pullback"])) == 1
    out = _manage(restored, "restore_registry", str(dest), "--force").stdout  # over a registry: replaced
    assert "3 media files match the backup" in out


def _base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")}
    return env | {"DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_TASK_ALWAYS_EAGER": "1", "LOG_LEVEL": "WARNING"}


@pytest.fixture
def model_store(tmp_path):
    from tests.scoring.pullback_files import simple_model_store

    return simple_model_store(tmp_path / "models")


def test_a_restore_brings_back_the_same_registry_audit_trail_and_pullbacks_on_sqlite(tmp_path, model_store):
    def env_of(name):
        return _base_env() | {"VAR_DIR": str(tmp_path / name), "SCORING_MODEL_STORE": str(model_store)}

    _round_trip(tmp_path, env_of)
    db = sqlite3.connect(tmp_path / "restored" / "db.sqlite3")
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def _psql(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@pytest.mark.services
def test_a_restore_brings_back_the_same_registry_audit_trail_and_pullbacks_on_postgresql(tmp_path, model_store):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.fail("this test needs DATABASE_URL pointing at PostgreSQL (see .ci/run)")
    server = url.rsplit("/", 1)[0]
    names = {name: f"ics_backup_{name}_{uuid.uuid4().hex[:8]}" for name in ("original", "restored")}
    for db_name in names.values():
        _psql(server, f'CREATE DATABASE "{db_name}"')

    def env_of(name):
        return _base_env() | {
            "VAR_DIR": str(tmp_path / name),
            "SCORING_MODEL_STORE": str(model_store),
            "DATABASE_URL": f"{server}/{names[name]}",
            "DB_CONN_MAX_AGE": "0",
        }

    try:
        _round_trip(tmp_path, env_of)
    finally:
        for db_name in names.values():
            _psql(server, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


# Refusals: nothing is touched ----------------------------------------------------------------


@pytest.fixture
def a_backup(tmp_path, transactional_db):
    """A backup of the (empty) test database, written in-process (committed rows: the SQLite backup
    waits for a writer's transaction, which a test's own transaction would never end)."""
    dest = tmp_path / "backup"
    backup.backup_create(dest=dest, log=lambda line: None)
    return dest


def _restore_error(src: Path, *args: str) -> str:
    with pytest.raises(CommandError) as failed:
        call_command("restore_registry", str(src), *args)
    return str(failed.value)


def test_restore_names_a_missing_or_incomplete_backup_folder(tmp_path, db):
    assert _restore_error(tmp_path / "nowhere") == (
        f"{tmp_path / 'nowhere'} is not a folder; give the folder that backup_registry wrote"
    )
    assert _restore_error(tmp_path) == f"{tmp_path} has no manifest.json: not a backup, or a backup that did not finish"


@sqlite_in_process
def test_restore_refuses_a_damaged_manifest_database_or_missing_media(a_backup, tmp_path):
    manifest = json.loads((a_backup / "manifest.json").read_text())
    (a_backup / "manifest.json").write_text('{"format": 1, "database": ')
    assert _restore_error(a_backup).startswith(f"{a_backup / 'manifest.json'} is damaged or not a backup manifest")

    (a_backup / "manifest.json").write_text(
        json.dumps(
            manifest | {"media": {"pullbacks/x.dcm": {"sha256": "0" * 64, "bytes": 1, "field": "scoring.Pullback.file"}}}
        )
    )
    assert _restore_error(a_backup) == f"{a_backup} lacks 1 media file(s) named in its manifest, e.g. pullbacks/x.dcm"

    (a_backup / "manifest.json").write_text(json.dumps(manifest))
    (a_backup / "db.sqlite3").write_bytes(b"not a database" * 100)
    assert _restore_error(a_backup).startswith(f"{a_backup / 'db.sqlite3'} is not a readable SQLite database")
    (a_backup / "db.sqlite3").unlink()
    assert _restore_error(a_backup) == f"{a_backup} lacks the database file 'db.sqlite3' named in its manifest"


@sqlite_in_process
def test_restore_refuses_another_vendor_or_another_migration_state(a_backup):
    manifest = json.loads((a_backup / "manifest.json").read_text())
    (a_backup / "manifest.json").write_text(
        json.dumps(manifest | {"database": {"vendor": "postgresql", "file": "db.sqlite3"}})
    )
    assert _restore_error(a_backup) == (
        "the backup is of a postgresql database; this app uses sqlite. Restore into the same kind of database."
    )
    older = manifest["migrations"] | {"registry": "0001_initial"}
    (a_backup / "manifest.json").write_text(json.dumps(manifest | {"migrations": older, "app_version": "abc123"}))
    message = _restore_error(a_backup)
    assert message.startswith("the backup's migration state differs from this code (registry: backup 0001_initial, code ")
    assert message.endswith("Restore with the app version the backup was made with (abc123), then upgrade and run migrate.")


def test_restore_refuses_a_database_that_holds_registry_data(a_backup, patient):
    assert _restore_error(a_backup) == (
        "the database is not empty (registry.Patient 1, registry.Site 1); restore "
        "into a new database, or pass --force to replace everything in it"
    )


def test_backup_refuses_a_folder_that_is_not_empty(tmp_path, db):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text("{}")
    with pytest.raises(CommandError, match="exists and is not an empty folder; back up into a new folder"):
        call_command("backup_registry", str(tmp_path / "old"))


@sqlite_in_process
def test_backup_manifest_records_counts_hashes_and_the_code_s_migrations(tmp_path, transactional_db, patient):
    default_storage.save("imports/2026/11/patients.csv", io.BytesIO(b"study_id\n"))
    ImportJob.objects.create(patients_file="imports/2026/11/patients.csv")
    manifest = backup.backup_create(dest=tmp_path / "b", log=lambda line: None)
    assert manifest["database"] == {"vendor": "sqlite", "file": "db.sqlite3"}
    assert manifest["migrations"] == backup.code_migrations()
    assert manifest["row_counts"]["registry.Patient"] == 1
    assert manifest["row_counts"]["registry.ImportJob"] == 1
    assert manifest["media"] == {
        "imports/2026/11/patients.csv": {
            "sha256": hashlib.sha256(b"study_id\n").hexdigest(),
            "bytes": 9,
            "field": "registry.ImportJob.patients_file",
        }
    }
    assert (tmp_path / "b" / "media" / "imports/2026/11/patients.csv").read_bytes() == b"study_id\n"
    assert json.loads((tmp_path / "b" / "manifest.json").read_text()) == manifest
