"""Backup and restore of the whole registry: the database, the media files it references, a manifest.

A backup folder holds
- `db.sqlite3` (SQLite, written with the online backup API, consistent while the app runs) or
  `db.pgdump` (PostgreSQL, `pg_dump --format=custom`);
- `media/<name>`: every file a FileField of any model refers to, read through that field's
  storage (local disk or S3);
- `manifest.json`, written last: when, the database vendor, the latest applied migration per app,
  the row count of every model, the SHA-256 and size of every media file, the app version (git).

Counts and file names are read from the same snapshot as the dump (the SQLite copy; on PostgreSQL
the transaction whose snapshot pg_dump uses), so the manifest describes exactly what was saved.

Restore checks the manifest first (vendor, migration state against the code, files present and
readable), refuses a database that already holds registry data unless forced, loads the database,
copies the media back and then verifies row counts and media hashes against the manifest.
"""

import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.db.migrations.loader import MigrationLoader

MANIFEST = "manifest.json"
SQLITE_FILE = "db.sqlite3"
PG_FILE = "db.pgdump"
MEDIA_DIR = "media"
FORMAT = 1
CHUNK_BYTES = 1024 * 1024
# Rows that `migrate` itself creates; a database holding only these counts as empty.
MIGRATE_MODELS = {"contenttypes.ContentType", "auth.Permission", "auth.Group", "auth.Group_permissions"}

Execute = Callable[[str], list[tuple]]


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


# What the database holds -------------------------------------------------------------------


def _tables() -> dict[str, str]:
    """Model label -> table, for every concrete model incl. many-to-many tables."""
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            tables[model._meta.label] = model._meta.db_table
    return dict(sorted(tables.items()))


def file_fields() -> list[tuple[str, models.FileField]]:
    """(model label + field name, field) for every FileField (and ImageField) of any model."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField):
                found.append((f"{model._meta.label}.{field.name}", field))
    return sorted(found, key=lambda item: item[0])


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _inventory(execute: Execute) -> dict:
    """Row counts per model, referenced media files (name -> field) and the latest applied
    migration per app, read with `execute(sql) -> rows` (a cursor on the snapshot that was saved)."""
    counts = {label: execute(f"SELECT COUNT(*) FROM {_q(table)}")[0][0] for label, table in _tables().items()}  # noqa: S608 (table names from the models)
    media: dict[str, str] = {}
    for label, field in file_fields():
        table, column = field.model._meta.db_table, field.column
        assert column is not None  # a concrete field has a column
        for (name,) in execute(f"SELECT {_q(column)} FROM {_q(table)} WHERE {_q(column)} <> ''"):  # noqa: S608
            media.setdefault(name, label)
    latest: dict[str, str] = {}
    for app, name in execute("SELECT app, name FROM django_migrations ORDER BY id"):
        latest[app] = name  # applied in dependency order, so the last one of an app is its newest
    return {"row_counts": counts, "media_fields": dict(sorted(media.items())), "migrations": dict(sorted(latest.items()))}


def code_migrations() -> dict[str, str]:
    """The newest migration of every app in the code (the state `migrate` brings a database to)."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    return dict(sorted(graph.leaf_nodes()))


def current_row_counts() -> dict[str, int]:
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:

        def execute(sql):
            cursor.execute(sql)
            return cursor.fetchall()

        return {
            label: execute(f"SELECT COUNT(*) FROM {_q(table)}")[0][0]  # noqa: S608
            for label, table in _tables().items()
            if table in existing
        }


# Backup ------------------------------------------------------------------------------------


def backup_create(*, dest: Path, log: Callable[[str], None] = print) -> dict:
    """Write a backup of the database and media into the new or empty folder `dest`; returns the manifest."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder; back up into a new folder")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)  # patient data: readable by the owner only
    vendor = connection.vendor
    if vendor == "sqlite":
        inventory = _sqlite_backup(dest / SQLITE_FILE)
    elif vendor == "postgresql":
        inventory = _pg_backup(dest / PG_FILE)
    else:
        raise BackupError(f"backing up a {vendor} database is not supported (SQLite and PostgreSQL are)")
    log(f"database ({vendor}) saved: {sum(inventory['row_counts'].values())} rows")
    media, missing = _media_backup(dest / MEDIA_DIR, inventory["media_fields"])
    log(f"media saved: {len(media)} files, {sum(m['bytes'] for m in media.values())} bytes")
    for name in missing:
        log(f"WARNING: {name} is referenced by the database but missing from storage; not in the backup")
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "app_version": _app_version(),
        "database": {"vendor": vendor, "file": SQLITE_FILE if vendor == "sqlite" else PG_FILE},
        "migrations": inventory["migrations"],
        "row_counts": inventory["row_counts"],
        "media": media,
        "media_missing": missing,
    }
    tmp = dest / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.rename(dest / MANIFEST)  # last, so that a folder with a manifest is a complete backup
    return manifest


def _sqlite_backup(target: Path) -> dict:
    connection.ensure_connection()
    copy = sqlite3.connect(target)
    try:
        connection.connection.backup(copy)  # one step: a consistent snapshot, writers not blocked (WAL)
        return _inventory(lambda sql: copy.execute(sql).fetchall())
    finally:
        copy.close()


def _pg_backup(target: Path) -> dict:
    # pg_dump runs on a snapshot exported by this transaction, so the counts and file names read
    # here describe exactly the rows in the dump.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        _run_pg("pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}")

        def execute(sql):
            cursor.execute(sql)
            return cursor.fetchall()

        return _inventory(execute)


def _pg_args_env() -> tuple[list[str], dict]:
    db = settings.DATABASES["default"]
    args = [f"--dbname={db['NAME']}"]
    for option, value in (("--host", db.get("HOST")), ("--port", db.get("PORT")), ("--username", db.get("USER"))):
        if value:
            args.append(f"{option}={value}")
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])  # never on the command line, where `ps` shows it
    if db.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = db["OPTIONS"]["sslmode"]
    return args, env


def _run_pg(program: str, *args: str) -> str:
    conn_args, env = _pg_args_env()
    if shutil.which(program) is None:
        raise BackupError(f"{program} not found: install the PostgreSQL client tools (same major version as the server)")
    result = subprocess.run([program, *args, *conn_args], env=env, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{program} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def _safe_path(root: Path, name: str) -> Path:
    """`root/name` for a storage name, refusing names that would leave `root`."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
        raise BackupError(f"refusing the media file name {name!r} (absolute or leaves the media folder)")
    return root.joinpath(*parts)


def _field_storage(label: str):
    model_label, field_name = label.rsplit(".", 1)
    return apps.get_model(model_label)._meta.get_field(field_name).storage


def _media_backup(root: Path, media_fields: dict[str, str]) -> tuple[dict, list[str]]:
    media, missing = {}, []
    for name, label in media_fields.items():
        storage = _field_storage(label)
        path = _safe_path(root, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with storage.open(name, "rb") as src, open(path, "wb") as dst:
                digest, size = _copy(src, dst)
        except FileNotFoundError:
            missing.append(name)
            path.unlink(missing_ok=True)
            continue
        media[name] = {"sha256": digest, "bytes": size, "field": label}
    return media, missing


def _copy(src, dst) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(CHUNK_BYTES):
        digest.update(chunk)
        dst.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _hash_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _app_version() -> str | None:
    try:
        result = subprocess.run(  # noqa: S603
            ["git", "describe", "--always", "--dirty"],  # noqa: S607 - git from PATH, fixed arguments
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


# Restore -----------------------------------------------------------------------------------


def manifest_read(src: Path) -> dict:
    """The manifest of the backup folder `src`, checked for completeness (not yet against the database)."""
    src = Path(src)
    if not src.is_dir():
        raise BackupError(f"{src} is not a folder; give the folder that backup_registry wrote")
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} has no {MANIFEST}: not a backup, or a backup that did not finish")
    try:
        manifest = json.loads(path.read_text())
        vendor, db_file = manifest["database"]["vendor"], manifest["database"]["file"]
        counts, media, migrations = manifest["row_counts"], manifest["media"], manifest["migrations"]
        if manifest["format"] != FORMAT or not all(isinstance(x, dict) for x in (counts, media, migrations)):
            raise ValueError("unexpected format")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path} is damaged or not a backup manifest of this app ({exc})") from None
    if db_file not in (SQLITE_FILE, PG_FILE) or not (src / db_file).is_file():
        raise BackupError(f"{src} lacks the database file {db_file!r} named in its manifest")
    missing = [name for name in media if not _safe_path(src / MEDIA_DIR, name).is_file()]
    if missing:
        raise BackupError(f"{src} lacks {len(missing)} media file(s) named in its manifest, e.g. {missing[0]}")
    return manifest | {"vendor": vendor}


def restore_check(manifest: dict, src: Path, *, force: bool) -> None:
    """Everything that must hold before the database is touched."""
    if manifest["vendor"] != connection.vendor:
        raise BackupError(
            f"the backup is of a {manifest['vendor']} database; this app uses {connection.vendor}. "
            "Restore into the same kind of database."
        )
    code = code_migrations()
    if manifest["migrations"] != code:
        differ = sorted(
            app for app in set(code) | set(manifest["migrations"]) if code.get(app) != manifest["migrations"].get(app)
        )
        shown = ", ".join(f"{app}: backup {manifest['migrations'].get(app)}, code {code.get(app)}" for app in differ)
        raise BackupError(
            f"the backup's migration state differs from this code ({shown}). Restore with the app version the "
            f"backup was made with ({manifest.get('app_version') or 'unknown'}), then upgrade and run migrate."
        )
    _check_database_file(src / manifest["database"]["file"], manifest["vendor"])
    if not force:
        held = {label: n for label, n in current_row_counts().items() if n and label not in MIGRATE_MODELS}
        if held:
            shown = ", ".join(f"{label} {n}" for label, n in sorted(held.items())[:5])
            raise BackupError(
                f"the database is not empty ({shown}); restore into a new database, "
                "or pass --force to replace everything in it"
            )


def _check_database_file(path: Path, vendor: str) -> None:
    if vendor == "sqlite":
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                result = db.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a readable SQLite database ({exc})") from None
        if result != "ok":
            raise BackupError(f"{path} is damaged (integrity check: {result})")
    else:
        try:
            _run_pg("pg_restore", "--list", str(path))
        except BackupError as exc:
            raise BackupError(f"{path} is not a readable pg_dump archive ({exc})") from None


def backup_restore(*, src: Path, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Restore the backup folder `src` into the configured database and storage, then verify it.

    Returns {"rows": total rows, "media": files}. Raises BackupError before touching anything when
    the backup or the target is unfit, and after restoring when the result differs from the manifest."""
    src = Path(src)
    manifest = manifest_read(src)
    restore_check(manifest, src, force=force)
    db_file = src / manifest["database"]["file"]
    if manifest["vendor"] == "sqlite":
        _sqlite_restore(db_file)
    else:
        _pg_restore(db_file)
    log(f"database ({manifest['vendor']}) restored from {db_file.name}")
    for name, entry in manifest["media"].items():
        _media_restore(src / MEDIA_DIR, name, entry)
    log(f"media restored: {len(manifest['media'])} files")
    return restore_verify(manifest, log=log)


def _sqlite_restore(db_file: Path) -> None:
    connection.close()
    connection.ensure_connection()
    backup = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        backup.backup(connection.connection)  # replaces every page of the target database
    finally:
        backup.close()
    connection.close()


def _pg_restore(db_file: Path) -> None:
    connection.close()  # pg_restore --clean drops the tables; no open transaction of ours may hold them
    _run_pg("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", str(db_file))


def _media_restore(root: Path, name: str, entry: dict) -> None:
    storage = _field_storage(entry["field"])
    path = _safe_path(root, name)
    if storage.exists(name):
        with storage.open(name, "rb") as f:
            if _hash_chunks(iter(lambda: f.read(CHUNK_BYTES), b""))[0] == entry["sha256"]:
                return
        storage.delete(name)
    with open(path, "rb") as f:
        saved = storage.save(name, f)
    if saved != name:
        raise BackupError(f"storage saved {name} as {saved}; restore into an empty storage")


def restore_verify(manifest: dict, *, log: Callable[[str], None] = print) -> dict:
    """Row counts and media hashes as in the manifest, else BackupError listing the differences."""
    counts = current_row_counts()
    differences = [
        f"{label}: {counts.get(label)} rows, backup {n}"
        for label, n in manifest["row_counts"].items()
        if counts.get(label) != n
    ]
    for name, entry in manifest["media"].items():
        storage = _field_storage(entry["field"])
        try:
            with storage.open(name, "rb") as f:
                digest, size = _hash_chunks(iter(functools.partial(f.read, CHUNK_BYTES), b""))
        except FileNotFoundError:
            differences.append(f"{name}: missing after restore")
            continue
        if (digest, size) != (entry["sha256"], entry["bytes"]):
            differences.append(f"{name}: SHA-256 {digest} ({size} bytes), backup {entry['sha256']} ({entry['bytes']} bytes)")
    if differences:
        raise BackupError("the restored registry differs from the backup: " + "; ".join(differences))
    rows = sum(manifest["row_counts"].values())
    log(
        f"verified: {len(manifest['row_counts'])} models, {rows} rows and {len(manifest['media'])} media files "
        f"match the backup of {manifest['created_at']} (app version {manifest.get('app_version') or 'unknown'})"
    )
    return {"rows": rows, "media": len(manifest["media"])}
