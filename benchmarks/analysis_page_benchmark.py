"""Benchmark: the analysis page, from pressing "Run the analysis" in the cohort builder to the
drawn charts, for a registry of N synthetic patients (issue 13: 400 patients, < 1.5 s).

    .venv/bin/python benchmarks/analysis_page_benchmark.py [--patients 400] [--runs 5] [--source HEAD]

1. a scratch SQLite database in a temporary VAR_DIR: migrate, collectstatic, N patients with
   events (registry.synthetic through the importer) and one investigator who sees every site;
2. gunicorn with the production config (config/gunicorn.conf.py: one sync worker, warmed up at
   start, DEBUG off) on a free port;
3. Debian's Chromium (Playwright, headless) signs in, opens the builder and presses Run --runs
   times (the first run is a warm-up and not counted), each time waiting until the first chart and
   every chart in the window are drawn, then scrolling to the end until every chart on the page is drawn;
4. per run, from the browser's Navigation Timing: the POST (the analysis, then the redirect),
   the result page's server time and size, the figures' JSON, the time from the page's response
   to the charts drawn; and the total from the click. The median run is reported.

`--source REV` runs a commit (exported with `git archive`) instead of the working tree.
"""

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "page-benchmark-" + secrets.token_urlsafe(12)
TARGET_S = 1.5

SEED = """
import io, sys
from datetime import date
import django
django.setup()
from django.contrib.auth.models import Group, User
from core.roles import INVESTIGATOR, ensure_role_groups
from registry.importer import registry_import
from registry.models import UserProfile
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv
patients, events = synthetic_cohort(int(sys.argv[1]), seed=2021, today=date(2026, 11, 27), prefix="PAGE")
registry_import(user=None, patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, patients)),
                events_csv=io.StringIO(to_csv(EVENT_COLUMNS, events)))
ensure_role_groups()
user = User.objects.create_user("page-investigator", password=sys.argv[2])
user.groups.set([Group.objects.get(name=INVESTIGATOR)])
UserProfile.objects.create(user=user, all_sites=True)
"""

# performance.now() once the first chart and every chart in the window have Plotly's SVG (every
# chart on the page when `everywhere`), else false.
DRAWN = """everywhere => {
  const inView = c => { const r = c.getBoundingClientRect(); return r.bottom > 0 && r.top < window.innerHeight; };
  const charts = [...document.querySelectorAll('.chart[data-figure]')].filter((c, i) => everywhere || !i || inView(c));
  return charts.length && charts.every(c => c.querySelector('.main-svg')) ? performance.now() : false;
}"""

TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  const figures = document.getElementById('analysis-figures');
  return {
    redirect_ms: n.redirectEnd - n.redirectStart,
    page_server_ms: n.responseStart - n.requestStart,
    page_download_ms: n.responseEnd - n.responseStart,
    response_end_ms: n.responseEnd,
    dom_content_loaded_ms: n.domContentLoadedEventEnd,
    html_bytes: n.decodedBodySize,
    html_transfer_bytes: n.transferSize,
    figures_json_bytes: figures ? new Blob([figures.textContent]).size : 0,
    charts: document.querySelectorAll('.chart[data-figure]').length,
  };
}"""


def main() -> int:
    args = page_arguments(__doc__).parse_args()
    chromium = chromium_or_exit()
    tmp = Path(tempfile.mkdtemp(prefix="ics-page-"))
    try:
        source, env = prepared(args.source, tmp)
        _run([sys.executable, "-c", SEED, str(args.patients), PASSWORD], cwd=source, env={**env, "PYTHONPATH": str(source)})
        with gunicorn(source, env, tmp) as base:
            runs = _browse(base, chromium, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _report(runs, args)


# Shared with the other page benchmarks (benchmarks/patient_page_benchmark.py) ---------------------


def page_arguments(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up run")
    parser.add_argument("--source", default="worktree", help="'worktree' (default) or a commit")
    parser.add_argument("--json", type=Path, help="also write the runs and the medians here")
    return parser


def chromium_or_exit() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Debian's chromium is not installed (apt-get install chromium)")
    return chromium


def prepared(which: str, tmp: Path) -> tuple[Path, dict]:
    """The source to run (the working tree or a commit) and its environment, migrated, static files collected."""
    source = _source(which, tmp)
    env = _env(tmp)
    for cmd in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        _run([sys.executable, "manage.py", *cmd], cwd=source, env=env)
    return source, env


@contextlib.contextmanager
def gunicorn(source: Path, env: dict, tmp: Path) -> Iterator[str]:
    """gunicorn with the production config (one sync worker) on a free port, healthy: its base URL."""
    port = _free_port()
    with open(tmp / "server.log", "wb") as log:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
            cwd=source,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(base, server)
            yield base
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.press("#id_password", "Enter")


def _browse(base: str, chromium: str, n_runs: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(page, base, "page-investigator", PASSWORD)
        runs = []
        for i in range(n_runs + 1):
            page.goto(f"{base}/analytics/")
            start = time.perf_counter()
            with page.expect_navigation(url="**/analytics/runs/*/"):
                page.click("button[name=action][value=run]")
            in_view_ms = _wait_drawn(page, everywhere=False)
            in_view_s = time.perf_counter() - start
            run = page.evaluate(TIMING) | {"in_view_drawn_ms": in_view_ms, "click_to_in_view_s": in_view_s}
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            run["all_drawn_ms"] = _wait_drawn(page, everywhere=True)
            if i:  # the first run warms the browser's cache (plotly.min.js) and the database
                runs.append(run)
        browser.close()
    return runs


def _wait_drawn(page, *, everywhere: bool) -> float:
    try:
        return page.wait_for_function(DRAWN, arg=everywhere, polling="raf", timeout=60_000).json_value()
    except Exception:
        status = page.locator("#run-status").inner_text() if page.locator("#run-status").count() else "?"
        sys.exit(f"no drawn charts on {page.url} (run status: {status}):\n{page.content()[:3000]}")


def _report(runs: list[dict], args) -> int:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    total = median("click_to_in_view_s")
    print(f"{args.patients} patients, source {args.source}, median of {len(runs)} runs (one warm-up run before them):")
    rows = [
        ("POST: the analysis and the redirect", f"{median('redirect_ms'):.0f} ms"),
        ("result page: server time", f"{median('page_server_ms'):.0f} ms"),
        (
            "result page: HTML (of which the figures' JSON)",
            f"{median('html_bytes') / 1e3:.0f} kB ({median('figures_json_bytes') / 1e3:.0f} kB)",
        ),
        ("response end -> charts in the window drawn", f"{median('in_view_drawn_ms') - median('response_end_ms'):.0f} ms"),
        ("response end -> every chart drawn (scrolled)", f"{median('all_drawn_ms') - median('response_end_ms'):.0f} ms"),
        ("charts on the page", f"{median('charts'):.0f}"),
        ("click 'Run' -> charts in the window drawn", f"{total:.2f} s (target < {TARGET_S} s)"),
    ]
    for label, value in rows:
        print(f"  {label:<50} {value}")
    if args.json:
        args.json.write_text(json.dumps({"patients": args.patients, "source": args.source, "runs": runs}, indent=1))
    return 0 if total < TARGET_S else 1


def _source(which: str, tmp: Path) -> Path:
    if which == "worktree":
        return ROOT
    folder = tmp / "source"
    folder.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", which], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_"))}
    return env | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "PRODUCTION": "0",  # no HTTPS redirect over plain HTTP
        "SECRET_KEY": "page-" + secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_TASK_ALWAYS_EAGER": "1",  # 400 patients run at once anyway (ANALYSIS_SYNC_MAX_PATIENTS)
        "VAR_DIR": str(tmp / "var"),
        "MEDIA_ROOT": str(tmp / "var" / "media"),
        "STATIC_ROOT": str(tmp / "var" / "staticfiles"),
        "LOG_LEVEL": "WARNING",
    }


def _run(cmd: list[str], *, cwd: Path, env: dict) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode:
        sys.exit(f"{' '.join(cmd[:3])}... failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, server: subprocess.Popen, timeout: float = 90) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - our own server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"gunicorn not healthy after {timeout} s")


if __name__ == "__main__":
    sys.exit(main())
