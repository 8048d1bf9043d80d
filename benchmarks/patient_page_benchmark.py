"""Benchmark: the first paint of a patient's page for a clinician (issue 14: "First paint under
1 s: charts load lazily or as compact data"), in a study-sized registry, for a patient with a
scored 500-frame pullback, contacts and events.

    .venv/bin/python benchmarks/patient_page_benchmark.py [--patients 400] [--runs 5]
        [--source HEAD] [--json OUT.json]

1. a scratch SQLite database in a temporary VAR_DIR: migrate, collectstatic, N synthetic patients
   with events (registry.synthetic through the importer, as benchmarks/analysis_page_benchmark.py);
   one of them, alive with three or more years of follow-up, gets an identity, three contacts, two
   events and a phantom pullback (the demo's: 500 frames, "heavy" calcium) ingested like a file
   and scored in-process (eager Celery); one clinician who sees every site;
2. gunicorn with the production config (config/gunicorn.conf.py: one sync worker, warmed up at
   start, DEBUG off) on a free port;
3. Debian's Chromium (Playwright, headless) signs in and opens the patient's page --runs times after
   a warm-up run (a fresh navigation from about:blank each time; the browser's cache keeps
   plotly.min.js), waits for the load event, then scrolls to Imaging and waits for the calcium map
   to be drawn (`#calcium-map-chart .main-svg`); one more run in a new browser context (same
   session, empty cache) is reported apart as the cold-cache run;
4. per run, from the browser's Navigation and Paint Timing: the server time (responseStart -
   requestStart), the HTML's size, first contentful paint, DOMContentLoaded, the end of the load
   event, and the time from the scroll to the drawn calcium map (the figures are in the HTML before
   commit 36efb08, fetched from /pullbacks/<pk>/figures.json once Imaging comes near the screen after
   it). Medians are reported; the target is a first contentful paint under 1 s (exit code 1 if not).

`--source REV` runs a commit (exported with `git archive`) instead of the working tree.
"""

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from analysis_page_benchmark import _run, chromium_or_exit, gunicorn, page_arguments, prepared, sign_in  # noqa: E402

USERNAME = "page-clinician"
TARGET_FCP_MS = 1000.0
FRAMES = 500  # the demo's: 41.7 mm at 6 frames/s and 0.5 mm/s, over the 40 mm a study pullback needs
VIEWPORT = {"width": 1280, "height": 900}

SEED = """
import io, json, sys, tempfile
from datetime import date, timedelta
from pathlib import Path
import django
django.setup()
from django.contrib.auth.models import Group, User
from core.roles import CLINICIAN, ensure_role_groups
from registry import services
from registry.importer import registry_import
from registry.models import Patient, UserProfile
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv
from scoring.detector.phantoms import polar_speckle as phantom
from scoring.dicom import files as dicom_io
from scoring.models import ScoringRun
from scoring.services import pullback_ingest_path

n_patients, username, password, n_frames = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
patients, events = synthetic_cohort(n_patients, seed=2021, today=date(2026, 11, 27), prefix="PAGE")
registry_import(user=None, patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, patients)),
                events_csv=io.StringIO(to_csv(EVENT_COLUMNS, events)))
ensure_role_groups()
user = User.objects.create_user(username, password=password)
user.groups.set([Group.objects.get(name=CLINICIAN)])
UserProfile.objects.create(user=user, all_sites=True)

# An alive patient with 3-6 years of follow-up, so that the added contacts and events are valid.
today = date.today()
patient = (Patient.objects.filter(index_date__range=(today - timedelta(days=6 * 365), today - timedelta(days=3 * 365)))
           .exclude(events__event_type="death").order_by("study_id").first())
i = patient.index_date
services.identity_set(user=None, patient=patient, reason="benchmark data", data={
    "name": "Bench Patient", "family_name": "Patient", "hospital_number": "MRN-BENCH",
    "date_of_birth": i - timedelta(days=round((patient.age_at_index or 60) * 365.25)),
    "postal_address": "Bench Street 1\\n1234 AB Benchtown"})
for days, method, notes in ((180, "phone", "feels well, walks daily"), (365, "questionnaire_returned", ""),
                            (730, "gp", "GP letter: stable angina, no admissions")):
    services.contact_record(user=None, patient=patient, data={
        "contact_date": i + timedelta(days=days), "method": method, "vital_status": "alive", "notes": notes})
services.event_record(user=None, patient=patient, data={
    "event_type": "mi", "event_date": i + timedelta(days=400), "source": "hospital_record", "notes": "NSTEMI"})
services.event_record(user=None, patient=patient, data={
    "event_type": "revascularization", "event_date": i + timedelta(days=402), "revascularization_method": "PCI",
    "target_vessel": True, "source": "hospital_record"})

# The demo's pullback of its patient 10 (demo_setup: seed 1009, "heavy"), scored in this process.
spec = phantom.PhantomSpec(n_frames=n_frames, seed=1009, preset="heavy", frame_rate_hz=6.0)
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "pullback.dcm"
    dicom_io.write_pullback(path, phantom.iter_frames(phantom.phantom_plan(spec)), n_frames=n_frames, rle=False,
                            frame_rate_hz=spec.frame_rate_hz, pullback_rate_mm_s=spec.pullback_rate_mm_s,
                            pixel_spacing_mm=spec.pixel_spacing_mm)
    outcome = pullback_ingest_path(patient=patient, path=path)
run = ScoringRun.objects.get(pk=outcome.run.pk)
if run.status != ScoringRun.Status.SUCCEEDED:
    sys.exit(f"the pullback was not scored: {run.status} {run.error}")
Path(sys.argv[5]).write_text(json.dumps({"study_id": patient.study_id, "pullback": outcome.pullback.pk, "ics": run.ics}))
"""

# Once the load event has ended and the paint entry is there (FCP is recorded per navigation).
LOADED = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return n && n.loadEventEnd > 0 && performance.getEntriesByName('first-contentful-paint').length > 0;
}"""

TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const inline = document.getElementById('pullback-figures');
  return {
    navigation_type: n.type,
    server_ms: n.responseStart - n.requestStart,
    html_bytes: n.decodedBodySize,
    html_transfer_bytes: n.transferSize,
    fcp_ms: performance.getEntriesByName('first-contentful-paint')[0].startTime,
    dom_interactive_ms: n.domInteractive,
    dom_content_loaded_ms: n.domContentLoadedEventEnd,
    load_end_ms: n.loadEventEnd,
    resources_at_load: resources.length,
    resource_transfer_bytes_at_load: resources.reduce((s, r) => s + r.transferSize, 0),
    inline_figures_bytes: inline ? new Blob([inline.textContent]).size : 0,
    map_drawn_before_scroll: !!document.querySelector('#calcium-map-chart .main-svg'),
  };
}"""

# Jump (no smooth scrolling) to the Imaging section (#imaging since 36efb08, else the viewer).
SCROLL = """() => {
  const target = document.getElementById('imaging') || document.getElementById('pullback-view');
  window.scrollTo({top: target.getBoundingClientRect().top + window.scrollY, behavior: 'instant'});
  return performance.now();
}"""

MAP_DRAWN = """() => document.querySelector('#calcium-map-chart .main-svg') ? performance.now() : false"""

FIGURES_FETCHED = """() => {
  const r = performance.getEntriesByType('resource').find(e => e.name.includes('/figures.json'));
  return r ? {figures_json_bytes: r.decodedBodySize, figures_json_transfer_bytes: r.transferSize,
              figures_json_ms: r.responseEnd - r.startTime} : {figures_json_bytes: 0};
}"""


def main() -> int:
    args = page_arguments(__doc__).parse_args()
    chromium = chromium_or_exit()
    password = "page-benchmark-" + os.urandom(9).hex()
    with tempfile.TemporaryDirectory(prefix="ics-patient-page-") as folder:
        tmp = Path(folder)
        started = time.monotonic()
        source, env = prepared(args.source, tmp)
        seeded = tmp / "seeded.json"
        seed_args = [str(args.patients), USERNAME, password, str(FRAMES), str(seeded)]
        _run([sys.executable, "-c", SEED, *seed_args], cwd=source, env={**env, "PYTHONPATH": str(source)})
        patient = json.loads(seeded.read_text()) | {"set_up_s": round(time.monotonic() - started, 1)}
        with gunicorn(source, env, tmp) as base:
            warm, cold = _browse(base, chromium, patient["study_id"], args.runs, password)
    return _report(warm, cold, patient, args)


def _browse(base: str, chromium: str, study_id: str, n_runs: int, password: str) -> tuple[list[dict], dict]:
    from playwright.sync_api import sync_playwright

    url = f"{base}/patients/{study_id}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        sign_in(page, base, USERNAME, password)
        # The first run warms the browser's cache (plotly.min.js) and the server's.
        warm = [_measure(page, url) for _ in range(n_runs + 1)][1:]
        # The same session in a new context: nothing cached.
        cold_context = browser.new_context(viewport=VIEWPORT, storage_state=context.storage_state())
        cold = _measure(cold_context.new_page(), url)
        browser.close()
    return warm, cold


def _measure(page, url: str) -> dict:
    page.goto("about:blank")  # a new navigation each time, not a reload that keeps the scroll position
    page.goto(url, wait_until="load")
    if page.url.split("#")[0] != url:
        sys.exit(f"{url} answered with {page.url}")
    page.wait_for_function(LOADED, polling="raf", timeout=60_000)
    run = page.evaluate(TIMING)
    scrolled_ms = page.evaluate(SCROLL)
    try:
        drawn_ms = page.wait_for_function(MAP_DRAWN, polling="raf", timeout=60_000).json_value()
    except Exception:
        sys.exit(f"no calcium map drawn on {url}:\n{page.content()[:3000]}")
    page.wait_for_load_state("networkidle")
    return run | {"scroll_to_map_drawn_ms": drawn_ms - scrolled_ms} | page.evaluate(FIGURES_FETCHED)


MEDIANS = (
    ("server_ms", "patient page: server time", "{:.0f} ms"),
    ("html_bytes", "patient page: HTML", "{:.0f} B"),
    ("inline_figures_bytes", "  of which the pullback's figures (JSON in the page)", "{:.0f} B"),
    ("fcp_ms", "first contentful paint", "{:.0f} ms"),
    ("dom_interactive_ms", "HTML parsed (domInteractive; then the deferred scripts)", "{:.0f} ms"),
    ("dom_content_loaded_ms", "DOMContentLoaded", "{:.0f} ms"),
    ("load_end_ms", "load event end", "{:.0f} ms"),
    ("scroll_to_map_drawn_ms", "scroll to Imaging -> calcium map drawn", "{:.0f} ms"),
    ("figures_json_bytes", "figures fetched (figures.json)", "{:.0f} B"),
)


def _report(warm: list[dict], cold: dict, patient: dict, args) -> int:
    medians = {key: statistics.median(r[key] for r in warm) for key, _, _ in MEDIANS}
    before_scroll = sum(r["map_drawn_before_scroll"] for r in warm)
    print(
        f"{args.patients} patients, source {args.source}, patient {patient['study_id']} "
        f"(pullback {patient['pullback']}, {FRAMES} frames, ICS {patient['ics']:.1f}); "
        f"median of {len(warm)} runs after a warm-up, browser cache warm (set-up {patient['set_up_s']:.0f} s):"
    )
    for key, label, unit in MEDIANS:
        print(f"  {label:<55} {unit.format(medians[key]):>10}")
    print(f"  {'calcium map already drawn before the scroll':<55} {before_scroll:>4} of {len(warm)}")
    print("cold browser cache (new context, same session), one run:")
    for key in ("fcp_ms", "dom_content_loaded_ms", "load_end_ms", "scroll_to_map_drawn_ms"):
        label = next(label for k, label, _ in MEDIANS if k == key)
        print(f"  {label:<55} {cold[key]:>7.0f} ms")
    print(f"  {'transferred by the load event (HTML excluded)':<55} {cold['resource_transfer_bytes_at_load']:>7.0f} B")
    passed = medians["fcp_ms"] < TARGET_FCP_MS
    print(
        f"first contentful paint {medians['fcp_ms']:.0f} ms: target < {TARGET_FCP_MS:.0f} ms {'met' if passed else 'MISSED'}"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min) on {os.cpu_count()} cores: {load}")
    if args.json:
        report = {
            "date": dt.date.today().isoformat(),
            "patients": args.patients,
            "frames": FRAMES,
            "source": args.source,
            "commit": _commit(args.source),
            "load_average_at_end": load,
            "patient": patient,
            "medians": medians,
            "runs": warm,
            "cold_cache_run": cold,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if passed else 1


def _commit(source: str) -> str:
    rev = "HEAD" if source == "worktree" else source
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = source == "worktree" and subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT).returncode != 0
    return commit + (" + uncommitted changes" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
