"""Write contention on the embedded SQLite: API writes while two large imports run.

    .venv/bin/python benchmarks/write_contention.py [--patients 20000] [--writers 50]

A fresh registry in a temp dir (VAR_DIR; DATABASE_URL unset, so SQLite in WAL mode as configured
in config/settings.py), migrated with `manage.py migrate`. The web app runs in its own process on
a threaded wsgiref server at 127.0.0.1. Two `import_registry` runs of `--patients` synthetic
patients each (separate processes, different study IDs) start together; meanwhile `--writers`
threads POST a follow-up contact or PATCH a patient's eGFR with a reason (token auth), back to
back, from the moment the imports start until both have finished. Reported: status codes,
p50/p95/max latency of the writes, and for each import how long its write transaction(s) held
the database's write lock (from BEGIN IMMEDIATE returning to COMMIT returning, measured inside the
import process). The last line is a one-line summary.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WRITER_PATIENT_PREFIX = "BENCH"


def _env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    return env


def _django():
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# Child process: the web server ----------------------------------------------------------------


def serve(port: int) -> None:
    """The WSGI app on a thread-per-request server (what a threaded production server does)."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    _django()
    from django.core.wsgi import get_wsgi_application

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 256

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    httpd = make_server("127.0.0.1", port, get_wsgi_application(), server_class=Server, handler_class=QuietHandler)
    print("serving", flush=True)
    httpd.serve_forever()


# Child process: one import, with its lock-holding times ---------------------------------------


def run_import(folder: str) -> None:
    _django()
    from django.core.management import call_command
    from django.db import connection

    holds, waits, began = [], [], {}

    def on_begin(execute, sql, params, many, context):
        if not sql.startswith("BEGIN"):
            return execute(sql, params, many, context)
        asked = time.perf_counter()
        result = execute(sql, params, many, context)
        began["at"] = time.perf_counter()
        waits.append(began["at"] - asked)
        return result

    def end(original):
        def wrapped():
            try:
                return original()
            finally:
                if "at" in began:
                    holds.append(time.perf_counter() - began.pop("at"))

        return wrapped

    connection.ensure_connection()
    connection._commit, connection._rollback = end(connection._commit), end(connection._rollback)
    started = time.perf_counter()
    error = ""
    with connection.execute_wrapper(on_begin):
        try:
            call_command("import_registry", folder, stdout=open(os.devnull, "w"))
        except Exception as exc:  # reported by the parent
            error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"seconds": time.perf_counter() - started, "holds": holds, "waits": waits, "error": error}))


# Child process: users and the writers' patients ----------------------------------------------


def setup(n_patients: int) -> None:
    _django()
    import io

    from django.contrib.auth.models import Group, User
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from core.roles import COORDINATOR, ensure_role_groups
    from registry.importer import registry_import
    from registry.models import UserProfile
    from registry.synthetic import PATIENT_COLUMNS, synthetic_cohort, to_csv

    ensure_role_groups()
    user = User.objects.create_user("bench-coordinator", password="unused-" + os.urandom(8).hex())
    user.groups.set([Group.objects.get(name=COORDINATOR)])
    UserProfile.objects.create(user=user, all_sites=True)
    rows, _ = synthetic_cohort(n_patients, seed=7, today=timezone.localdate(), prefix=WRITER_PATIENT_PREFIX)
    registry_import(user=None, patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, rows)))  # no events: no deaths
    print(json.dumps({"token": Token.objects.create(user=user).key, "study_ids": [r["study_id"] for r in rows]}))


def write_cohort(folder: Path, n: int, *, seed: int, prefix: str) -> None:
    sys.path.insert(0, str(ROOT))
    from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv

    patients, events = synthetic_cohort(n, seed=seed, today=date.today(), prefix=prefix)
    folder.mkdir(parents=True)
    (folder / "patients.csv").write_text(to_csv(PATIENT_COLUMNS, patients), encoding="utf-8")
    (folder / "events.csv").write_text(to_csv(EVENT_COLUMNS, events), encoding="utf-8")


# The writers ---------------------------------------------------------------------------------


class Writers:
    def __init__(self, *, port: int, token: str, study_ids: list[str], n: int):
        self.port, self.token, self.study_ids, self.n = port, token, study_ids, n
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: dict[int | str, int] = {}
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def request(self, method: str, path: str, body: dict) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(
                method, path, json.dumps(body), {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
            )
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def writer(self, i: int) -> None:
        rng = random.Random(i)
        study_id = self.study_ids[i % len(self.study_ids)]
        day = (date.today() - timedelta(days=1)).isoformat()
        while not self.stop.is_set():
            if rng.random() < 0.5:
                args = (
                    "POST",
                    f"/api/patients/{study_id}/contacts/",
                    {"contact_date": day, "method": "phone", "vital_status": "alive"},
                )
            else:
                args = (
                    "PATCH",
                    f"/api/patients/{study_id}/",
                    {"egfr": rng.randint(30, 120), "reason": "lab result entered"},
                )
            started = time.perf_counter()
            try:
                status, body = self.request(*args)
            except OSError as exc:
                status, body = type(exc).__name__, b""
            elapsed = time.perf_counter() - started
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.latencies.append(elapsed)
                if status not in (200, 201):
                    self.failures.append(f"{args[0]} {args[1]} -> {status} {body[:120]!r}")

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.writer, args=(i,), daemon=True) for i in range(self.n)]
        for t in threads:
            t.start()
        return threads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(port: int, server: subprocess.Popen) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("the web server stopped")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/healthz")
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the web server did not start")


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20000, help="patients per import (default 20000)")
    parser.add_argument("--writers", type=int, default=50, help="concurrent API writer threads (default 50)")
    parser.add_argument(
        "--without-imports", type=float, metavar="SECONDS", help="no imports: the writers alone for SECONDS (the baseline)"
    )
    parser.add_argument(
        "--ungated", action="store_true", help="Django's plain SQLite backend, without config.sqlite_backend's write gate"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--import-folder", help=argparse.SUPPRESS)
    parser.add_argument("--setup", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for option, run_part in (("serve", serve), ("import_folder", run_import), ("setup", setup)):
        if getattr(args, option):  # the parts this script runs in its own subprocesses
            return run_part(getattr(args, option))

    tmp = Path(tempfile.mkdtemp(prefix="write-contention-"))
    env = _env(tmp)
    if args.ungated:
        (tmp / "ungated_settings.py").write_text(
            "from config.settings import *  # noqa: F403\n"
            "DATABASES['default']['ENGINE'] = 'django.db.backends.sqlite3'  # noqa: F405\n"
        )
        env |= {"DJANGO_SETTINGS_MODULE": "ungated_settings", "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}"}
    server = None
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        ready = json.loads(
            subprocess.run(
                [PYTHON, __file__, "--setup", str(args.writers)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.splitlines()[-1]
        )
        for name, seed in (("IMPA", 1), ("IMPB", 2))[: 0 if args.without_imports else 2]:
            write_cohort(tmp / name, args.patients, seed=seed, prefix=name)
        port = _free_port()
        server = subprocess.Popen([PYTHON, __file__, "--serve", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        _wait_for_server(port, server)

        writers = Writers(port=port, token=ready["token"], study_ids=ready["study_ids"], n=args.writers)
        writers.request("PATCH", f"/api/patients/{ready['study_ids'][0]}/", {"egfr": 60, "reason": "warm-up"})
        started = time.perf_counter()
        names = () if args.without_imports else ("IMPA", "IMPB")
        imports = [
            subprocess.Popen(
                [PYTHON, __file__, "--import-folder", str(tmp / name)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in names
        ]
        threads = writers.start()
        outputs = [p.communicate() for p in imports]
        if args.without_imports:
            time.sleep(args.without_imports)
        wall = time.perf_counter() - started
        writers.stop.set()
        for t in threads:
            t.join()
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    _report(args, names, outputs, writers, wall)


def _report(args, names, outputs, writers, wall: float) -> None:
    """Print each import's write transactions and the API writers' failures and latencies."""
    results = []
    for name, (out, err) in zip(names, outputs, strict=True):
        lines = out.strip().splitlines()
        result = json.loads(lines[-1]) if lines else {"seconds": 0, "holds": [], "waits": [], "error": err[-500:]}
        results.append(result)
        holds = result["holds"]
        print(
            f"import {name}: {result['seconds']:.1f} s, {len(holds)} write transaction(s), lock held "
            f"max {max(holds, default=0):.2f} s, total {sum(holds):.2f} s"
            + (f", ERROR {result['error']}" if result["error"] else "")
        )
    total = sum(writers.statuses.values())
    failed = total - writers.statuses.get(200, 0) - writers.statuses.get(201, 0)
    lat = writers.latencies
    print(f"writes: {total} in {wall:.1f} s, status codes {dict(sorted(writers.statuses.items(), key=str))}")
    for line in sorted(set(writers.failures))[:5]:
        print("  e.g.", line)
    max_hold = max((h for r in results for h in r["holds"]), default=0)
    during = "no import" if args.without_imports else f"two {args.patients}-row imports"
    print(
        f"SUMMARY: {failed} of {total} API writes failed ({args.writers} writers during {during}); latency p50 {_percentile(lat, 50):.3f} s, p95 {_percentile(lat, 95):.3f} s, "
        f"max {max(lat, default=0):.2f} s; longest import write transaction {max_hold:.2f} s"
    )


if __name__ == "__main__":
    main()
