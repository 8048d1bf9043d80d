"""python manage.py evaluate_detector --phantoms N --seed S: accuracy on held-out phantoms.

``--cross-family``: the model on unseen seeds of both phantom families (no training), as Markdown
tables (:mod:`scoring.detector.cross_family`); ``--phantoms`` and ``--frames`` size the sets.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from scoring.detector import cross_family
from scoring.detector.model_store import DEFAULT_MODEL, load_model
from scoring.detector.train import evaluate, phantom_sets


class Command(BaseCommand):
    help = "Per-A-line accuracy/precision/recall/F1 and ICS agreement of the model on new phantoms."

    def add_arguments(self, parser):
        parser.add_argument("--phantoms", type=int, default=2, help="phantoms per preset")
        parser.add_argument("--seed", type=int, default=9000, help="first seed (family 1 only; --cross-family has its own)")
        parser.add_argument("--frames", type=int, default=240)
        parser.add_argument("--model", default=DEFAULT_MODEL)
        parser.add_argument(
            "--cross-family",
            action="store_true",
            help="evaluate on unseen seeds of both phantom families (seeds 50000+), print Markdown tables",
        )
        parser.add_argument("--json", type=Path, help="with --cross-family: also write the numbers here")
        parser.add_argument("--workers", type=int, default=2, help="with --cross-family: processes rendering phantoms")

    def handle(self, *args, **opts):
        model = load_model(opts["model"])
        if opts["cross_family"]:
            self._cross_family(model, opts)
            return
        sets = phantom_sets(n_per_preset=opts["phantoms"], seed=opts["seed"], n_frames=opts["frames"])
        self.stdout.write(json.dumps({"model_version": model.version, **evaluate(model, sets)}, indent=2))

    def _cross_family(self, model, opts) -> None:
        report = cross_family.shipped_model_report(
            model, n_per_preset=opts["phantoms"], frames=opts["frames"], workers=opts["workers"]
        )
        report["model_version"] = model.version
        self.stdout.write(f"## Model {model.version} on unseen phantoms of both families\n\n")
        self.stdout.write(cross_family.format_report(report))
        if opts["json"]:
            opts["json"].write_text(json.dumps(report, indent=2) + "\n")
