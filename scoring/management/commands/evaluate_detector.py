"""python manage.py evaluate_detector --phantoms N --seed S: accuracy on held-out phantoms."""

import json

from django.core.management.base import BaseCommand

from scoring.detector.model_store import DEFAULT_MODEL, load_model
from scoring.detector.train import evaluate, phantom_sets


class Command(BaseCommand):
    help = "Per-A-line accuracy/precision/recall/F1 and ICS agreement of the model on new phantoms."

    def add_arguments(self, parser):
        parser.add_argument("--phantoms", type=int, default=2, help="phantoms per preset")
        parser.add_argument("--seed", type=int, default=9000)
        parser.add_argument("--frames", type=int, default=240)
        parser.add_argument("--model", default=DEFAULT_MODEL)

    def handle(self, *args, **opts):
        model = load_model(opts["model"])
        sets = phantom_sets(n_per_preset=opts["phantoms"], seed=opts["seed"], n_frames=opts["frames"])
        self.stdout.write(json.dumps({"model_version": model.version, **evaluate(model, sets)}, indent=2))
