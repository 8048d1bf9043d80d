"""Detector benchmark, one command: ``python benchmarks/detector_benchmark.py [--quick]``.

Prints accuracy on held-out phantoms of every preset of both families (per A-line and ICS; family 2
with superficial-calcium recall and attenuated plaque called calcium), stress cases outside
the presets (wide or close guidewire, texture added after scan conversion, attenuated plaque), the end-to-end time
of ``manage.py score_pullback`` on a 2400-frame pullback, the decode+polar floor measured in
the same run, their ratios (scoring time and whole command), and the peak memory of scoring a 6000-frame pullback: the sum over the main process and its
workers (RSS and PSS, sampled from /proc).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PY = sys.executable
FLOOR_SNIPPET = """
import sys, time, numpy as np
from scoring.dicom import files
from scoring.detector.polar import polar_grid, to_polar
from scoring.detector.pipeline import CHUNK_FRAMES
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
def part(meta, a, b):
    grid = polar_grid((meta.rows, meta.columns), n_alines=256)
    total = 0.0
    for chunk in files.iter_frame_chunks(meta, chunk_frames=CHUNK_FRAMES, start=a, stop=b):
        total += float(to_polar(chunk, grid)[:, 0, 0].sum())
    return total
t = time.perf_counter()
meta = files.read_metadata(sys.argv[1])
bounds = np.linspace(0, meta.n_frames, 3).astype(int)
with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
    [f.result() for f in [pool.submit(part, meta, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]]
print(time.perf_counter() - t)
"""


def run(cmd) -> tuple[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout  # noqa: S603 - our own argv
    return out, time.perf_counter() - t0


def make(path: Path, frames: int, seed: int, preset: str = "typical") -> None:
    if not path.exists():
        run([PY, "manage.py", "make_phantom", str(path), "--frames", str(frames), "--seed", str(seed), "--preset", preset])


def _children(pid: int) -> list:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        kids = []
        for task in tasks:
            kids += [int(k) for k in (task / "children").read_text().split()]
        return kids
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


def _tree(pid: int) -> list:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def _kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def tree_memory_of(cmd, interval_s: float = 0.05) -> tuple[dict, str]:
    """Run cmd and sample its whole process tree (main + workers) from /proc.

    Returns the peak over time of the SUM of RSS over all processes (conservative: pages the
    forked workers share with the main process are counted in each), the peak of the sum of
    PSS (shared pages split between the processes sharing them: the honest total), and the
    kernel's own per-process peak (ru_maxrss) of the main process.
    """
    import threading

    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603 - our own argv
    peak = {"sum_rss_mb": 0.0, "sum_pss_mb": 0.0, "max_processes": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            pids = _tree(proc.pid)
            rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids) / 1024
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) / 1024
            peak["sum_rss_mb"] = max(peak["sum_rss_mb"], rss)
            peak["sum_pss_mb"] = max(peak["sum_pss_mb"], pss)
            peak["max_processes"] = max(peak["max_processes"], len(pids))
            time.sleep(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    done.set()
    thread.join()
    peak = {k: round(v, 1) for k, v in peak.items()}
    peak["main_ru_maxrss_mb"] = round(usage.ru_maxrss / 1024.0, 1)
    return peak, out


def accuracy(n_per_preset: int, frames: int) -> dict:
    """Held-out phantoms: every preset's fixed look (incl. shifted: parameters outside training)
    and domain-randomised looks, seeds never used in training."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from scoring.detector.model_store import load_model
    from scoring.detector.train import PRESET_SEED_STRIDE, TRAIN_PRESETS, evaluate, phantom_set, phantom_sets

    model = load_model()
    fixed = phantom_sets(n_per_preset=n_per_preset, seed=9000, n_frames=frames)
    # every preset from its own seeds: a randomised "noisy" pullback would otherwise repeat "typical"
    randomised = [
        phantom_set(9100 + PRESET_SEED_STRIDE * j + i, preset, frames, randomise=True)
        for i in range(n_per_preset)
        for j, preset in enumerate(TRAIN_PRESETS)
    ]
    for s in randomised:
        s.preset = f"{s.preset}-randomised"
    return {
        "model_version": model.version,
        "model_kind": model.kind,
        "classifier_comparison_grouped_cv": model.metrics.get("grouped_cv_raw"),
        "held_out": evaluate(model, fixed + randomised),
    }


def family2_accuracy(n_per_preset: int, frames: int) -> dict:
    """Held-out phantoms of family 2 (rf_scatter, an independent generator): every preset's fixed
    look, seeds 9300+ (never trained on), truth with calcium behind the wire (family 1's
    convention), plus superficial-calcium recall and attenuated-plaque A-lines called calcium."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import numpy as np

    from scoring.detector.model_store import load_model
    from scoring.detector.phantoms import rf_scatter
    from scoring.detector.train import N_ALINES, evaluate, phantom_set, predict

    model = load_model()
    sets = [phantom_set(9300 + i, preset, frames, family=2) for i in range(n_per_preset) for preset in rf_scatter.PRESETS]
    masks = {"superficial": [], "attenuated": []}
    preds = []
    for s in sets:
        truth = rf_scatter.phantom_truth(rf_scatter.make_phantom(frames, seed=s.seed, preset=s.preset), n_alines=N_ALINES)
        preds.append(predict(model, s))
        masks["superficial"].append(truth.superficial)
        masks["attenuated"].append(truth.attenuated & ~s.truth.calcium)

    def share(name: str) -> float:
        called = sum(int(p[m].sum()) for p, m in zip(preds, masks[name], strict=True))
        return round(called / max(1, sum(int(m.sum()) for m in masks[name])), 3)

    return {
        "held_out": evaluate(model, sets),
        "superficial_recall": share("superficial"),
        "attenuated_called_calcium": share("attenuated"),
        "calcium_free_ics": [
            round(float(np.mean(p)) * 1000, 1) for s, p in zip(sets, preds, strict=True) if s.preset == "none"
        ],
    }


def robustness(frames: int = 400) -> list:
    """Held-out stress cases outside what the phantom's presets draw, one factor at a time: what
    another generator might do differently. Fixed looks of "typical" / "none", seeds 501-502."""
    import dataclasses

    import numpy as np
    from scipy.ndimage import uniform_filter

    from scoring.detector import features as fe
    from scoring.detector.model_store import load_model
    from scoring.detector.phantoms import polar_speckle
    from scoring.detector.pipeline import base_features_from_chunks
    from scoring.detector.postprocess import ics
    from scoring.detector.train import N_ALINES, PhantomSet, aline_metrics, predict

    model = load_model()

    def cartesian_texture(chunks, seed):  # speckle-like texture added after scan conversion
        rng = np.random.default_rng(seed)
        for chunk in chunks:
            noise = uniform_filter(rng.normal(0, 1, chunk.shape).astype(np.float32), size=(1, 3, 3)) * 3
            out = np.clip(chunk + 25.0 * noise, 0, 255).astype(np.uint8)
            out[chunk == 0] = 0
            yield out

    def wire_close(plan):
        plan.guidewire_r_mm = np.full_like(plan.guidewire_r_mm, 0.55)

    cases = [
        ("baseline", {}, None, False),
        ("guidewire 0.4 mm wide", {"guidewire_radius_mm": 0.2}, None, False),
        ("guidewire 0.55 mm from the catheter", {}, wire_close, False),
        ("texture added in Cartesian space", {}, None, True),
        (
            "attenuated plaque (dim, 8 per mm) in place of fibrous",
            {"fibrous_db": -30.0, "fibrous_alpha_per_mm": 8.0},
            None,
            False,
        ),
    ]
    rows = []
    for name, look, change, texture in cases:
        for preset, seed in (("typical", 501), ("none", 502)):
            plan = polar_speckle.make_phantom(frames, seed=seed, preset=preset)
            plan.look = dataclasses.replace(plan.look, **look)
            if change:
                change(plan)
            chunks = polar_speckle.iter_frames(plan)
            if texture:
                chunks = cartesian_texture(chunks, seed)
            base = base_features_from_chunks(chunks, n_alines=N_ALINES, pixel_spacing_mm=plan.spec.pixel_spacing_mm)
            s = PhantomSet(seed, preset, fe.add_context(base), polar_speckle.phantom_truth(plan, n_alines=N_ALINES))
            pred = predict(model, s)
            rows.append(
                {
                    "case": name,
                    "preset": preset,
                    **{k: round(v, 3) for k, v in aline_metrics(pred, s.truth.calcium).items()},
                    "ics": round(ics(pred), 1),
                    "ics_truth": round(s.truth.ics, 1),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer phantoms, skip the 6000-frame memory run")
    parser.add_argument("--workdir", default=str(ROOT / "var" / "benchmarks"))
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    report = {
        "accuracy": accuracy(1 if args.quick else 3, 240),
        "family2_accuracy": family2_accuracy(1 if args.quick else 2, 48),
    }
    if not args.quick:
        report["robustness"] = robustness()
    pb2400 = work / "typical-2400-seed777.dcm"
    make(pb2400, 2400, 777)
    run([PY, "manage.py", "score_pullback", str(pb2400), "--json"])  # warm the page cache
    out, wall = run([PY, "manage.py", "score_pullback", str(pb2400), "--json"])
    scored = json.loads(out)
    floor_out, _ = run([PY, "-c", FLOOR_SNIPPET, str(pb2400)])
    floor_s = float(floor_out.strip().splitlines()[-1])
    report["speed_2400"] = {
        "score_seconds": scored["seconds"],
        "command_wall_seconds": round(wall, 2),
        "frames_per_second": round(2400 / scored["seconds"], 1),
        "floor_decode_polar_seconds": round(floor_s, 3),
        "ratio_to_floor": round(scored["seconds"] / floor_s, 2),
        "command_ratio_to_floor": round(wall / floor_s, 2),  # the whole command incl. startup
        "ics": scored["ics"],
    }
    if not args.quick:
        pb6000 = work / "typical-6000-seed778.dcm"
        make(pb6000, 6000, 778)
        memory, out = tree_memory_of([PY, "manage.py", "score_pullback", str(pb6000), "--json"])
        report["memory_6000"] = {**memory, "seconds": json.loads(out)["seconds"]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
