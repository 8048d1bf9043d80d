"""Load scenario for the registry, one command (issue 9, "standing proof"):

    .venv/bin/python benchmarks/load/run.py [--database postgres|sqlite] [--patients 10000]
                                            [--users 20] [--seconds 60] [--source worktree|HEAD]

1. a scratch database (PostgreSQL on 127.0.0.1:5432 as user postgres, or SQLite in a temp VAR_DIR),
   `manage.py migrate` and `collectstatic`;
2. N synthetic patients with events and contacts through `manage.py import_registry`, users per
   role with known passwords, a few scored phantom pullbacks (seed.py);
3. gunicorn, 3 sync workers, on 127.0.0.1:<free port> (DEBUG off, production-like settings
   without the HTTPS redirect, Redis broker db 12) and one Celery worker (large analyses run there);
4. one unloaded 5,000-patient analysis (timed), then locust headless (locustfile.py) with the
   coordinator/clinician/investigator mix;
5. a table per page (requests, failures, p50/p95/p99 ms), overall req/s and errors, the analysis
   times; the same as JSON in benchmarks/load/last_run.json. Exit 1 if any request failed.
Gunicorn is stopped and the scratch database dropped at the end, whatever happened.

`--source HEAD` runs the last commit (exported with `git archive` to the temp folder) instead of
the working tree, e.g. while the working tree is half-edited.
"""

import argparse
import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/12"
TARGET_P95_MS = 300
TARGET_ANALYSIS_S = 2.0
# The p95 target is for pages and API reads (GET); sign-ins (password hashing) and writes have none.


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=5)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--pullbacks", type=int, default=2, help="phantom pullbacks scored before the run (0: none)")
    parser.add_argument("--source", default="worktree", help="'worktree' (default) or 'HEAD' (the last commit)")
    parser.add_argument("--out", type=Path, default=HERE / "last_run.json")
    args = parser.parse_args()
    if not (1 <= args.users <= 500 and 5 <= args.seconds <= 3600 and 1 <= args.patients <= 200_000):
        parser.error("users 1-500, seconds 5-3600, patients 1-200000")

    tmp = Path(tempfile.mkdtemp(prefix="ics-load-"))
    db_name = f"ics_load_{os.getpid()}_{int(time.time())}"
    gunicorn = worker = None
    created_db = False
    try:
        source = _source(args.source, tmp)
        env = _env(args, tmp, db_name)
        if args.database == "postgres":
            _run(["createdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], db_name], env=env, timeout=60)
            created_db = True
        step = _stepper()
        _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=source, env=env, timeout=600)
        _run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=source, env=env, timeout=300)
        step("migrate + collectstatic")
        fixture_path = tmp / "fixture.json"
        _run(
            [
                sys.executable,
                str(HERE / "seed.py"),
                "--patients",
                str(args.patients),
                "--pullbacks",
                str(args.pullbacks),
                "--out",
                str(fixture_path),
            ],
            cwd=source,
            env={**env, "PYTHONPATH": str(source)},
            timeout=1800,
        )
        seed_seconds = step("seed")
        fixture = json.loads(fixture_path.read_text(encoding="utf-8"))

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        gunicorn_log = tmp / "gunicorn.log"
        server_out = open(tmp / "server.log", "wb")  # Django's own log (500 tracebacks) goes to stderr
        gunicorn = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-c",
                "config/gunicorn.conf.py",  # the production settings: each worker warms up at start
                "--workers",
                str(args.workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "--graceful-timeout",
                "10",
                "--error-logfile",
                str(gunicorn_log),
                "--log-level",
                "warning",
            ],
            cwd=source,
            env=env,
            stdout=server_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_healthy(base, gunicorn, timeout=60)
        _flush_broker()
        worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "config", "worker", "--concurrency", "1", "--loglevel", "WARNING"],
            cwd=source,
            env=env,
            stdout=open(tmp / "worker.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_worker_ready(worker, source, env, timeout=60)
        step("gunicorn and the Celery worker up")

        idle_analysis = _idle_analysis(base, fixture, repeats=3)
        step("idle analysis")

        csv_prefix = tmp / "locust"
        extra_out = tmp / "locust_extra.json"
        locust_cmd = [
            str(BIN / "locust"),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "--host",
            base,
            "-u",
            str(args.users),
            "-r",
            str(args.spawn_rate),
            # the locustfile ends the run LOAD_SECONDS after the warm-up; -t is only a backstop
            "-t",
            f"{args.seconds + 420}s",
            "--csv",
            str(csv_prefix),
            "--only-summary",
            "--stop-timeout",
            "10",
            "--loglevel",
            "WARNING",
        ]
        print(
            f"load: {args.users} users for {args.seconds} s against {base} ({args.database}, "
            f"{fixture['counts']['patients']} patients)",
            flush=True,
        )
        load_before = os.getloadavg()
        locust = subprocess.run(
            locust_cmd,
            cwd=HERE,
            env={
                **env,
                "LOAD_FIXTURE": str(fixture_path),
                "LOAD_EXTRA_OUT": str(extra_out),
                "LOAD_SECONDS": str(args.seconds),
            },
            capture_output=True,
            text=True,
            timeout=args.seconds + 540,
        )
        if locust.returncode not in (0, 1):  # 1: some request failed (reported below)
            print(locust.stdout[-3000:], locust.stderr[-3000:], sep="\n", file=sys.stderr)
            raise RuntimeError(f"locust exited with {locust.returncode}")

        report = _report(args, fixture, csv_prefix, extra_out, idle_analysis, seed_seconds, gunicorn_log)
        # Other processes on the machine skew the numbers: the 1-minute load average before and after.
        report["settings"]["load_average_1min"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        _print(report)
        print(f"\nwritten: {args.out}")
        return 1 if report["overall"]["failures"] else 0
    finally:
        for proc in (gunicorn, worker):
            if proc is not None:
                _stop(proc)
        if created_db:
            subprocess.run(
                ["dropdb", "--if-exists", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], db_name],
                timeout=120,
                check=False,
            )
        shutil.rmtree(tmp, ignore_errors=True)


def _source(which: str, tmp: Path) -> Path:
    if which == "worktree":
        return ROOT
    folder = tmp / "source"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", which], cwd=ROOT, capture_output=True, check=True, timeout=120
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True, timeout=120)
    return folder


def _env(args, tmp: Path, db_name: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "PRODUCTION": "0",  # PRODUCTION=1 forces HTTPS redirects and secure cookies: not over plain HTTP
            "SECRET_KEY": "load-" + secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1",
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "VAR_DIR": str(tmp / "var"),
            "MEDIA_ROOT": str(tmp / "var" / "media"),
            "STATIC_ROOT": str(tmp / "var" / "staticfiles"),
            "LOG_LEVEL": "WARNING",
            "AXES_FAILURE_LIMIT": "1000",  # many sign-ins from one address (127.0.0.1); none fail
            "PYTHONUNBUFFERED": "1",
        }
    )
    if args.database == "postgres":
        env["DATABASE_URL"] = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{db_name}"
    return env


def _run(cmd, *, timeout: float, cwd=None, env=None) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"{' '.join(map(str, cmd[:3]))}... exited with {done.returncode}")
    if done.stdout.strip():
        print(done.stdout.strip()[-2000:], flush=True)


def _stepper():
    last = [time.perf_counter()]

    def step(what: str) -> float:
        now = time.perf_counter()
        seconds, last[0] = now - last[0], now
        print(f"{what}: {seconds:.1f} s", flush=True)
        return round(seconds, 1)

    return step


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn not healthy after {timeout} s")


def _wait_worker_ready(proc: subprocess.Popen, source, env: dict, timeout: float) -> None:
    """Until the worker answers a ping: it has started and loaded the statistics stack (config/celery.py)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {proc.returncode}")
        ping = [str(BIN / "celery"), "-A", "config", "inspect", "ping", "--timeout", "1"]
        if subprocess.run(ping, cwd=source, env=env, capture_output=True).returncode == 0:
            return
    raise RuntimeError(f"the Celery worker did not answer a ping within {timeout} s")


def _idle_analysis(base: str, fixture: dict, repeats: int) -> dict:
    """The 5,000-patient analysis on an otherwise idle server (the first run warms the worker)."""
    account = fixture["users"]["investigator"][0]
    with requests.Session() as s:
        r = s.post(base + "/api/auth/token/", data=account, timeout=30)
        r.raise_for_status()
        s.headers["Authorization"] = f"Token {r.json()['token']}"
        times, n, codes = [], None, []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = s.post(base + "/api/analyses/", json=fixture["analysis_spec"], timeout=120)
            codes.append(r.status_code)
            body = r.json() if r.ok else {}
            while body.get("status") in ("queued", "running") and time.perf_counter() - t0 < 120:
                time.sleep(0.1)  # a large analysis runs in the Celery worker (202): poll until done
                body = s.get(f"{base}/api/analyses/{body['id']}/", timeout=30).json()
            times.append(round(time.perf_counter() - t0, 3))
            n = body.get("n_patients", n)
    return {"seconds": times, "status_codes": codes, "n_patients": n, "spec": fixture["analysis_spec"]}


def _flush_broker() -> None:
    """Empty the benchmark's Redis database: no task of an earlier run reaches this worker."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # gunicorn's own process group (start_new_session)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _num(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _report(args, fixture, csv_prefix: Path, extra_out: Path, idle_analysis, seed_seconds, gunicorn_log) -> dict:
    pages, overall = [], {}
    with open(f"{csv_prefix}_stats.csv", encoding="utf-8", newline="") as fp:
        for row in csv.DictReader(fp):
            entry = {
                "name": row["Name"],
                "method": row["Type"],
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": _num(row["50%"]),
                "p95_ms": _num(row["95%"]),
                "p99_ms": _num(row["99%"]),
                "max_ms": _num(row["Max Response Time"]),
                "rps": _num(row["Requests/s"]),
            }
            if row["Name"] == "Aggregated":
                overall = entry
            elif entry["requests"] or entry["failures"]:  # sign-ins were reset after the warm-up
                entry["p95_target_ms"] = TARGET_P95_MS if row["Type"] == "GET" else None
                entry["meets_target"] = (
                    None
                    if entry["p95_target_ms"] is None
                    else (entry["p95_ms"] is not None and entry["p95_ms"] < TARGET_P95_MS)
                )
                pages.append(entry)
    failures = []
    with open(f"{csv_prefix}_failures.csv", encoding="utf-8", newline="") as fp:
        for row in csv.DictReader(fp):
            failures.append(
                {"method": row["Method"], "name": row["Name"], "error": row["Error"], "occurrences": int(row["Occurrences"])}
            )
    server_errors = sum(
        f["occurrences"]
        for f in failures
        if "5xx" in f["error"] or "connection" in f["error"].lower() or "Connection" in f["error"]
    )
    log_text = "".join(
        f.read_text(encoding="utf-8", errors="replace")
        for f in (gunicorn_log, gunicorn_log.with_name("server.log"))
        if f.exists()
    )
    extra = json.loads(extra_out.read_text()) if extra_out.exists() else {}
    loaded_seconds = sorted(a["seconds"] for a in extra.get("analysis", []))
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "settings": {
            "database": args.database,
            "patients": fixture["counts"]["patients"],
            "events": fixture["counts"]["events"],
            "users": args.users,
            "seconds": args.seconds,
            "gunicorn_workers": args.workers,
            "source": args.source,
            "cpus": os.cpu_count(),
            "scored_pullbacks": len(fixture["pullbacks"]),
        },
        "setup_seconds": {"seed": seed_seconds, **fixture["timings"]},
        # Sign-ins happen in the warm-up (not in the table): every user signs in once, page and token.
        "warmup": {
            "seconds": extra.get("warmup_seconds"),
            "measured_seconds": extra.get("measured_seconds"),
            "signin": extra.get("signin", {}),
        },
        "pages": sorted(pages, key=lambda p: p["name"]),
        "overall": {
            "requests": overall.get("requests", 0),
            "failures": overall.get("failures", 0),
            "errors_5xx_or_connection": server_errors,
            "rps": overall.get("rps"),
            "p50_ms": overall.get("p50_ms"),
            "p95_ms": overall.get("p95_ms"),
            "p99_ms": overall.get("p99_ms"),
        },
        "failures": failures,
        "analysis_5000": {
            "n_patients": idle_analysis["n_patients"],
            "idle_seconds": idle_analysis["seconds"],
            "idle_status_codes": idle_analysis["status_codes"],
            "under_load_seconds": loaded_seconds,
            "target_seconds": TARGET_ANALYSIS_S,
            "spec": idle_analysis["spec"],
        },
        "gunicorn": {
            "worker_timeouts": log_text.count("WORKER TIMEOUT"),
            "tracebacks": log_text.count("Traceback"),
            "first_traceback": log_text[log_text.find("Traceback") :][:3000] if "Traceback" in log_text else None,
        },
    }


def _print(report: dict) -> None:
    s = report["settings"]
    print(
        f"\n{s['database']}, {s['patients']} patients, {s['users']} users, {s['seconds']} s, "
        f"{s['gunicorn_workers']} gunicorn workers, {s['cpus']} CPUs, load average {s.get('load_average_1min')}, "
        f"source {s['source']}"
    )
    header = f"{'page':<40} {'reqs':>6} {'fail':>5} {'p50':>7} {'p95':>7} {'p99':>7}  p95<300"
    w = report["warmup"]
    print(
        f"warm-up (all users signed in) {w['seconds']} s, then measured {w['measured_seconds']} s; sign-ins: "
        + "; ".join(f"{k} p50 {v['p50_ms']:.0f} ms, max {v['max_ms']:.0f} ms" for k, v in w["signin"].items())
    )
    print(header)
    print("-" * len(header))
    for p in report["pages"]:
        mark = "" if p["meets_target"] is None else ("ok" if p["meets_target"] else "MISS")
        print(
            f"{(p['method'] + ' ' + p['name'])[:40]:<40} {p['requests']:>6} {p['failures']:>5} "
            f"{_ms(p['p50_ms'])} {_ms(p['p95_ms'])} {_ms(p['p99_ms'])}  {mark}"
        )
    o = report["overall"]
    print("-" * len(header))
    print(f"{'overall':<40} {o['requests']:>6} {o['failures']:>5} {_ms(o['p50_ms'])} {_ms(o['p95_ms'])} {_ms(o['p99_ms'])}")
    print(
        f"throughput {o['rps'] or 0:.1f} req/s; failures {o['failures']} "
        f"(5xx or connection: {o['errors_5xx_or_connection']})"
    )
    for f in report["failures"]:
        print(f"  {f['occurrences']:>5} x {f['method']} {f['name']}: {f['error'][:160]}")
    a = report["analysis_5000"]
    loaded = a["under_load_seconds"]
    print(
        f"5,000-patient analysis (n={a['n_patients']}): idle {a['idle_seconds']} s; under load "
        + (f"median {loaded[len(loaded) // 2]:.2f} s, max {loaded[-1]:.2f} s of {len(loaded)}" if loaded else "none")
        + f" (target < {a['target_seconds']} s)"
    )
    g = report["gunicorn"]
    if g["worker_timeouts"] or g["tracebacks"]:
        print(f"gunicorn log: {g['worker_timeouts']} worker timeouts, {g['tracebacks']} tracebacks")


def _ms(value) -> str:
    return f"{value:>7.0f}" if value is not None else f"{'-':>7}"


if __name__ == "__main__":
    sys.exit(main())
