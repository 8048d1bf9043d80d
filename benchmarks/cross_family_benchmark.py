"""Cross-family detector benchmark, one command: ``python benchmarks/cross_family_benchmark.py [--quick] [--json OUT]``.

Trains the detector (its own training code, no classifier comparison) on phantom family 1, on
family 2 and on both, and tests every model on unseen seeds of both families
(:mod:`scoring.detector.cross_family`: seed plan, targets). Prints Markdown: the cross-family
table (the headline), the same-family table, recall per calcium morphology, false positives per
confounder and ICS per pullback, ✗ on every missed target. Writes the numbers as JSON to
``benchmarks/results/cross_family.json`` (or OUT).

Sizes: ``--quick`` trains on 2 pullbacks per anatomy preset and family (32 frames) and tests on 1
per preset (about 3 minutes on 2 cores); the full run on 5 (96 frames) and 3 per preset (about
15 minutes).
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.detector import cross_family as cf  # noqa: E402 - after the path set-up

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "cross_family.json"
TRAIN_SEED = 1000  # training seeds 1000-6999 (cross_family.training_seeds); evaluation 50 000+


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets (a few minutes)")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where to write the numbers (default {DEFAULT_JSON})"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes rendering phantoms")
    args = parser.parse_args(argv)
    size = cf.QUICK if args.quick else cf.FULL
    report = cf.cross_family_report(
        n_per_preset=size["n_per_preset"],
        frames=size["frames"],
        seed=TRAIN_SEED,
        quick=args.quick,
        eval_per_preset=size["eval_per_preset"],
        workers=args.workers,
    )
    print(f"## Cross-family validation ({'quick' if args.quick else 'full'})\n")
    print(cf.format_report(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
