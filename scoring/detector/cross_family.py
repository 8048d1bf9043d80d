"""Cross-family validation of the calcium detector: train on one phantom family, test on the other.

The two phantom families (:mod:`scoring.detector.phantoms`) share only their interface: family 1
simulates A-lines in the polar domain, family 2 draws the anatomy in the cross-section plane and
simulates point scatterers and a pulse. A detector that learned one generator's constants passes
its own family and fails the other; the cross-family numbers are the honest ones.

Seed plan (every pullback is defined by family, preset and seed alone):

* training seeds are below :data:`TRAIN_SEED_LIMIT` (10 000): ``seed + 1000 j + i`` for anatomy
  preset ``j`` and pullback ``i`` (family 1 exactly as :func:`scoring.detector.train.training_sets`);
* evaluation seeds are ``EVAL_SEED_BASE[family] + 1000 j + i``, 50 000-55 999 for family 1 and
  60 000-68 999 for family 2: never used to train, tune or test anything else (the shipped
  model was trained on seeds from 20 240 401, the other benchmarks use seeds below 10 000).

Everything here is pure (numpy, no Django); models are trained through the public
:func:`scoring.detector.train.train_on_sets` and applied through :func:`scoring.detector.train.predict`.
"""

import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.detector import features as fe
from scoring.detector import train
from scoring.detector.phantoms import family as family_module
from scoring.detector.pipeline import base_features_from_chunks

N_ALINES = 256  # the detector resamples every frame to 256 A-lines (polar.py); truth at the same
SEED_STRIDE = 1000  # seeds of preset j start at base + 1000 j: no two pullbacks share a seed
TRAIN_SEED_LIMIT = 10_000
EVAL_SEED_BASE = {1: 50_000, 2: 60_000}
# Anatomy presets for domain-randomised training (a random look per pullback). Family 2's
# "noisy", "fast" and "dense" are typical's anatomy with another look: randomised, they add nothing.
TRAIN_PRESETS = {1: train.TRAIN_PRESETS, 2: ("typical", "heavy", "none", "superficial", "spotty", "attenuated")}
MORPHOLOGIES = ("superficial", "deep", "nodule", "spotty")
CONFOUNDERS = {"wire": "guidewire", "fibrous": "fibrous", "attenuated": "attenuated", "side branch": "side_branch"}
# (name, comparison, limit): per-A-line accuracy/precision/recall, ICS error per pullback,
# ICS of calcium-free pullbacks, recall of superficial calcium, attenuated A-lines called calcium.
TARGETS = (
    ("accuracy", ">=", 0.95),
    ("precision", ">=", 0.95),
    ("recall", ">=", 0.95),
    ("max_abs_ics_error", "<=", 10.0),
    ("calcium_free_max_ics", "<=", 5.0),
    ("superficial_recall", ">=", 0.90),
    ("attenuated_fp_rate", "<=", 0.05),
)
QUICK = {"n_per_preset": 2, "frames": 32, "eval_per_preset": 1}
FULL = {"n_per_preset": 5, "frames": 96, "eval_per_preset": 3}


@dataclass
class FamilySet(train.PhantomSet):
    """A :class:`~scoring.detector.train.PhantomSet` that knows its phantom family."""

    family: int = 1

    @property
    def name(self) -> str:
        return f"f{self.family}-{super().name}"


# --------------------------------------------------------------------------------------
# Seeds and phantom sets


def training_seeds(family: int, *, n_per_preset: int, seed: int) -> dict:
    """Seeds of the training pullbacks of ``family`` by anatomy preset (see the seed plan)."""
    seeds = {
        preset: [seed + SEED_STRIDE * j + i for i in range(n_per_preset)] for j, preset in enumerate(TRAIN_PRESETS[family])
    }
    every = [s for values in seeds.values() for s in values]
    if n_per_preset > SEED_STRIDE or seed < 0 or (every and max(every) >= TRAIN_SEED_LIMIT):
        raise ValueError(f"training seeds must lie in [0, {TRAIN_SEED_LIMIT}) with at most {SEED_STRIDE} per preset")
    return seeds


def evaluation_seeds(family: int, *, n_per_preset: int, presets: Iterable[str] | None = None) -> dict:
    """Seeds of the evaluation pullbacks of ``family`` by preset (every preset of the family by default)."""
    if n_per_preset > SEED_STRIDE:
        raise ValueError(f"at most {SEED_STRIDE} evaluation pullbacks per preset")
    presets = family_module(family).PRESETS if presets is None else tuple(presets)
    base = EVAL_SEED_BASE[family]
    return {preset: [base + SEED_STRIDE * j + i for i in range(n_per_preset)] for j, preset in enumerate(presets)}


def phantom_set_of(family: int, preset: str, seed: int, n_frames: int, randomise: bool = False) -> FamilySet:
    """Render one phantom of ``family`` and compute the detector's full features; truth keeps every mask."""
    generator = family_module(family)
    plan = generator.make_phantom(n_frames, seed=seed, preset=preset, randomise=randomise)
    base = base_features_from_chunks(
        generator.iter_frames(plan), n_alines=N_ALINES, pixel_spacing_mm=plan.spec.pixel_spacing_mm
    )
    truth = generator.phantom_truth(plan, n_alines=N_ALINES)
    return FamilySet(seed, preset, fe.add_context(base), truth, randomise, family=family)


def _unpack(job: tuple) -> FamilySet:
    return phantom_set_of(*job)


def phantom_sets_of(
    family: int,
    *,
    presets: Iterable[str],
    seeds: Iterable[int] | Mapping[str, Iterable[int]],
    n_frames: int,
    randomise: bool = False,
    workers: int = 1,
) -> list:
    """Phantom sets of ``family``: every preset with ``seeds`` (one list for all, or one per preset).

    Parameters
    ----------
    family : int
        1 or 2 (:data:`scoring.detector.phantoms.FAMILIES`).
    presets : iterable of str
        Presets of that family.
    seeds : iterable of int or mapping preset -> iterable of int
        The same seeds for every preset, or each preset's own.
    n_frames : int
        Frames per pullback.
    randomise : bool
        Domain-randomised looks (training).
    workers : int
        Processes rendering pullbacks in parallel (1: in this process).

    Returns
    -------
    list of FamilySet
        Features (frames, 256, n_features) as the detector computes them from the rendered frames
        (family 2 may render 512 A-lines; the polar resampling makes 256) and the family's truth
        at 256 A-lines with all its masks, in preset-major order.
    """
    presets = tuple(presets)
    by_preset = seeds if isinstance(seeds, Mapping) else {preset: list(seeds) for preset in presets}
    jobs = [(family, preset, int(s), n_frames, randomise) for preset in presets for s in by_preset[preset]]
    if workers <= 1 or len(jobs) < 2:
        return [_unpack(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_unpack, jobs))


def training_sets_of(family: int, *, n_per_preset: int, seed: int, n_frames: int, workers: int = 1) -> list:
    """Domain-randomised training sets of ``family``: every anatomy preset, a random look per pullback.

    Family 1 gives the pullbacks of :func:`scoring.detector.train.training_sets` (same seeds,
    presets and looks); family 2 its anatomy presets (:data:`TRAIN_PRESETS`) with ``randomise=True``.
    Seeds: :func:`training_seeds` (below :data:`TRAIN_SEED_LIMIT`).
    """
    seeds = training_seeds(family, n_per_preset=n_per_preset, seed=seed)
    sets = phantom_sets_of(family, presets=seeds, seeds=seeds, n_frames=n_frames, randomise=True, workers=workers)
    # pullback-major like train.training_sets (i, then preset): grouped CV folds then mix presets
    return sorted(sets, key=lambda s: ((s.seed - seed) % SEED_STRIDE, (s.seed - seed) // SEED_STRIDE))


def evaluation_sets_of(family: int, *, n_per_preset: int, n_frames: int, workers: int = 1) -> list:
    """Held-out sets of ``family``: every preset with its fixed look, seeds :func:`evaluation_seeds`."""
    seeds = evaluation_seeds(family, n_per_preset=n_per_preset)
    return phantom_sets_of(family, presets=seeds, seeds=seeds, n_frames=n_frames, workers=workers)


# --------------------------------------------------------------------------------------
# Evaluation


def _ics(labels: np.ndarray) -> float:
    return float(labels.mean() * 1000.0) if labels.size else 0.0


def _predictions(model: Any, sets: list) -> list:
    """Calcium labels of every set: ``model(set)`` for a callable, else the detector's own path."""
    if callable(model):
        return [np.asarray(model(s), bool) for s in sets]
    return [train.predict(model, s) for s in sets]


def _mask(sets: list, name: str) -> np.ndarray | None:
    """A truth mask over all sets, flattened; sets without it count as all False; None if none has it."""
    parts = [getattr(s.truth, name, None) for s in sets]
    if all(p is None for p in parts):
        return None
    return np.concatenate(
        [(np.zeros(s.truth.calcium.shape, bool) if p is None else p).ravel() for s, p in zip(sets, parts, strict=True)]
    )


def _rate(called: np.ndarray, mask: np.ndarray | None) -> dict:
    """Fraction of the A-lines of ``mask`` that are ``called`` (None when the mask is empty)."""
    n = 0 if mask is None else int(mask.sum())
    return {"rate": float((called & mask).sum() / n) if n else None, "alines": n}


def _pullback_rows(sets: list, preds: list) -> list:
    return [
        {
            "name": s.name,
            "family": getattr(s, "family", None),
            "preset": s.preset,
            "seed": int(s.seed),
            "randomised": bool(s.randomise),
            "ics": round(_ics(p), 2),
            "ics_truth": round(float(s.truth.ics), 2),
            "ics_error": round(_ics(p) - float(s.truth.ics), 2),
        }
        for s, p in zip(sets, preds, strict=True)
    ]


def _check(value: float | None, comparison: str, limit: float) -> bool | None:
    if value is None:
        return None
    return bool(value >= limit) if comparison == ">=" else bool(value <= limit)


def targets_of(summary: dict) -> list:
    """Pass/fail of every target of :data:`TARGETS` (``passed`` None: nothing to measure, e.g. no
    calcium-free pullback)."""
    return [
        {
            "name": name,
            "value": summary[name],
            "comparison": comparison,
            "limit": limit,
            "passed": _check(summary[name], comparison, limit),
        }
        for name, comparison, limit in TARGETS
    ]


def evaluate_sets(model: Any, sets: list) -> dict:
    """Per-A-line, per-pullback, per-morphology and per-confounder results of ``model`` on ``sets``.

    Parameters
    ----------
    model : DetectorModel or callable
        A detector model (labels by :func:`scoring.detector.train.predict`) or a callable
        ``set -> bool labels (frames, A-lines)``.
    sets : list of PhantomSet
        Sets whose truth has ``calcium`` and, where available, the morphology and confounder masks.

    Returns
    -------
    dict
        ``pooled``: accuracy, precision, recall, F1 over all A-lines; ``pullbacks``: ICS and truth ICS
        per pullback; ``max_abs_ics_error``, ``mean_ics_error``; ``calcium_free_ics`` (ICS of every
        pullback without calcium) and its max; ``morphology``: recall per calcium kind (A-lines of the
        mask called calcium / A-lines of the mask); ``confounders``: false-positive rate per confounder
        (A-lines of the mask that are not calcium in truth yet called calcium / those A-lines);
        ``targets``: :func:`targets_of`, ``passed``: every measurable target met.
    """
    preds = _predictions(model, sets)
    called = np.concatenate([p.ravel() for p in preds])
    calcium = np.concatenate([s.truth.calcium.ravel() for s in sets])
    rows = _pullback_rows(sets, preds)
    errors = np.array([r["ics_error"] for r in rows])
    free = [r["ics"] for r in rows if r["ics_truth"] == 0]
    morphology = {kind: _rate(called, _mask(sets, kind)) for kind in MORPHOLOGIES}
    confounders = {}
    for label, name in CONFOUNDERS.items():
        mask = _mask(sets, name)
        confounders[label] = _rate(called, None if mask is None else mask & ~calcium)
    result: dict[str, Any] = {
        "pooled": train.aline_metrics(called, calcium),
        "pullbacks": rows,
        "mean_ics_error": float(errors.mean()),
        "max_abs_ics_error": float(np.abs(errors).max()),
        "calcium_free_ics": free,
        "calcium_free_max_ics": float(max(free)) if free else None,
        "morphology": morphology,
        "confounders": confounders,
    }
    summary = {
        **result["pooled"],
        "max_abs_ics_error": result["max_abs_ics_error"],
        "calcium_free_max_ics": result["calcium_free_max_ics"],
        "superficial_recall": morphology["superficial"]["rate"],
        "attenuated_fp_rate": confounders["attenuated"]["rate"],
    }
    result["targets"] = targets_of(summary)
    result["passed"] = all(t["passed"] is not False for t in result["targets"])
    return result


# --------------------------------------------------------------------------------------
# The report


def train_model(sets: list, *, seed: int, summary: dict) -> Any:
    """The detector fitted on ``sets`` by its own training code (no classifier comparison)."""
    return train.train_on_sets(sets, seed=seed, summary=summary, compare=False)


def _settings(*, n_per_preset: int, frames: int, seed: int, quick: bool, eval_per_preset: int) -> dict:
    return {
        "n_per_preset": n_per_preset,
        "frames": frames,
        "seed": seed,
        "quick": quick,
        "eval_per_preset": eval_per_preset,
        "training_seeds": {f: training_seeds(f, n_per_preset=n_per_preset, seed=seed) for f in (1, 2)},
        "evaluation_seeds": {f: evaluation_seeds(f, n_per_preset=eval_per_preset) for f in (1, 2)},
    }


def cross_family_report(
    *,
    n_per_preset: int,
    frames: int,
    seed: int,
    quick: bool = False,
    model_factory: Callable[..., Any] | None = None,
    eval_per_preset: int | None = None,
    workers: int = 1,
) -> dict:
    """Train on family 1, on family 2 and on both; test every model on unseen seeds of each family.

    Parameters
    ----------
    n_per_preset : int
        Training pullbacks per anatomy preset and family.
    frames : int
        Frames per pullback (training and evaluation).
    seed : int
        Base of the training seeds (:func:`training_seeds`) and the training seed.
    quick : bool
        One evaluation pullback per preset (else ``eval_per_preset`` or 3).
    model_factory : callable, optional
        ``(sets, *, seed, summary) -> model``; default :func:`train_model`.
    eval_per_preset : int, optional
        Evaluation pullbacks per preset and family.
    workers : int
        Processes rendering phantoms.

    Returns
    -------
    dict
        ``settings`` (incl. every seed), ``tables``: {"cross-family": {row: evaluation},
        "same family": {row: evaluation}} (rows "train 1 -> test 2", "train 2 -> test 1",
        "train 1+2 -> test 1+2"; "train 1 -> test 1", "train 2 -> test 2"), ``seconds``.
    """
    factory = model_factory or train_model
    per_preset = eval_per_preset or (QUICK["eval_per_preset"] if quick else FULL["eval_per_preset"])
    started = time.perf_counter()
    seconds = {}
    train_sets = {
        f: training_sets_of(f, n_per_preset=n_per_preset, seed=seed, n_frames=frames, workers=workers) for f in (1, 2)
    }
    test_sets = {f: evaluation_sets_of(f, n_per_preset=per_preset, n_frames=frames, workers=workers) for f in (1, 2)}
    seconds["phantoms"] = round(time.perf_counter() - started, 1)
    models = {}
    for label, sets in (("1", train_sets[1]), ("2", train_sets[2]), ("1+2", train_sets[1] + train_sets[2])):
        t0 = time.perf_counter()
        summary = {
            "source": "cross-family phantoms",
            "families": label,
            "seed": seed,
            "n_per_preset": n_per_preset,
            "n_frames": frames,
        }
        models[label] = factory(sets, seed=seed, summary=summary)
        seconds[f"train {label}"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    tables = {
        "cross-family": {
            "train 1 -> test 2": evaluate_sets(models["1"], test_sets[2]),
            "train 2 -> test 1": evaluate_sets(models["2"], test_sets[1]),
            "train 1+2 -> test 1+2": evaluate_sets(models["1+2"], test_sets[1] + test_sets[2]),
        },
        "same family": {
            "train 1 -> test 1": evaluate_sets(models["1"], test_sets[1]),
            "train 2 -> test 2": evaluate_sets(models["2"], test_sets[2]),
        },
    }
    seconds["evaluate"] = round(time.perf_counter() - t0, 1)
    seconds["total"] = round(time.perf_counter() - started, 1)
    settings = _settings(n_per_preset=n_per_preset, frames=frames, seed=seed, quick=quick, eval_per_preset=per_preset)
    return {"settings": settings, "tables": tables, "seconds": seconds}


def shipped_model_report(model: Any, *, n_per_preset: int, frames: int, workers: int = 1) -> dict:
    """A trained model (e.g. the shipped one) on unseen seeds of both families, no training.

    Same tables as :func:`cross_family_report`: {"shipped model": {"model -> test 1", "model -> test 2",
    "model -> test 1+2"}}.
    """
    started = time.perf_counter()
    test_sets = {f: evaluation_sets_of(f, n_per_preset=n_per_preset, n_frames=frames, workers=workers) for f in (1, 2)}
    rows = {
        "model -> test 1": evaluate_sets(model, test_sets[1]),
        "model -> test 2": evaluate_sets(model, test_sets[2]),
        "model -> test 1+2": evaluate_sets(model, test_sets[1] + test_sets[2]),
    }
    settings = {
        "frames": frames,
        "eval_per_preset": n_per_preset,
        "evaluation_seeds": {f: evaluation_seeds(f, n_per_preset=n_per_preset) for f in (1, 2)},
    }
    return {
        "settings": settings,
        "tables": {"shipped model": rows},
        "seconds": {"total": round(time.perf_counter() - started, 1)},
    }


# --------------------------------------------------------------------------------------
# Markdown

_FAIL = " ✗"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _target_cell(evaluation: dict, name: str, digits: int) -> str:
    target = next(t for t in evaluation["targets"] if t["name"] == name)
    return _fmt(target["value"], digits) + (_FAIL if target["passed"] is False else "")


def _main_table(title: str, rows: dict) -> list:
    lines = [
        f"### {title}",
        "",
        "| train -> test | pullbacks | accuracy | precision | recall | max abs ICS error | mean ICS error "
        "| calcium-free max ICS | superficial recall | attenuated FP | targets met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, ev in rows.items():
        met = [t for t in ev["targets"] if t["passed"] is not None]
        cells = [
            _target_cell(ev, "accuracy", 3),
            _target_cell(ev, "precision", 3),
            _target_cell(ev, "recall", 3),
            _target_cell(ev, "max_abs_ics_error", 1),
            _fmt(ev["mean_ics_error"], 1),
            _target_cell(ev, "calcium_free_max_ics", 1),
            _target_cell(ev, "superficial_recall", 3),
            _target_cell(ev, "attenuated_fp_rate", 3),
            f"{sum(bool(t['passed']) for t in met)}/{len(met)}",
        ]
        lines.append(f"| {label} | {len(ev['pullbacks'])} | " + " | ".join(cells) + " |")
    return lines + [""]


def _rate_table(title: str, tables: dict, key: str, names) -> list:
    lines = [f"### {title}", "", "| train -> test | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for rows in tables.values():
        for label, ev in rows.items():
            cells = [f"{_fmt(ev[key][n]['rate'])} ({ev[key][n]['alines']})" for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def _pullback_table(tables: dict) -> list:
    columns = [label for rows in tables.values() for label in rows]
    by_pullback: dict = {}
    for rows in tables.values():
        for label, ev in rows.items():
            for row in ev["pullbacks"]:
                by_pullback.setdefault(row["name"], {"truth": row["ics_truth"]})[label] = row["ics"]
    lines = [
        "### ICS per pullback (✗: |error| > 10, or > 5 on a calcium-free pullback)",
        "",
        "| pullback | truth ICS | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for name, values in by_pullback.items():
        cells = [_ics_cell(values.get(c), values["truth"]) for c in columns]
        lines.append(f"| {name} | {values['truth']:.1f} | " + " | ".join(cells) + " |")
    return lines + [""]


def _ics_cell(ics: float | None, truth: float) -> str:
    if ics is None:
        return ""
    failed = abs(ics - truth) > 10.0 or (truth == 0 and ics > 5.0)
    return f"{ics:.1f}" + (_FAIL if failed else "")


def format_report(report: dict) -> str:
    """Markdown: one table per group of rows (cross-family headline first), recall per morphology,
    false positives per confounder and ICS per pullback; ✗ marks a missed target."""
    tables = report["tables"]
    lines = []
    for title, rows in tables.items():
        lines += _main_table(title, rows)
    lines += _rate_table("Recall per calcium morphology (A-lines)", tables, "morphology", MORPHOLOGIES)
    lines += _rate_table("False positives per confounder (non-calcium A-lines)", tables, "confounders", list(CONFOUNDERS))
    lines += _pullback_table(tables)
    targets = ", ".join(f"{name} {comparison} {limit:g}" for name, comparison, limit in TARGETS)
    lines.append(f"Targets: {targets}.")
    if "seconds" in report:
        lines.append(f"Seconds: {report['seconds']}.")
    return "\n".join(lines) + "\n"
