"""python manage.py train_detector --phantoms N --seed S --out NAME: train on phantoms (annotations later)."""

import json

from django.core.management.base import BaseCommand

from scoring.detector.train import train_on_phantoms
from scoring.model_store import save_model


class Command(BaseCommand):
    help = "Train the calcium detector on phantoms (grouped CV report) and save it in the model store."

    def add_arguments(self, parser):
        parser.add_argument("--phantoms", type=int, default=3, help="phantoms per preset")
        parser.add_argument("--seed", type=int, default=20240401)
        parser.add_argument("--frames", type=int, default=240)
        parser.add_argument("--out", default="candidate", help="model name in the store")

    def handle(self, *args, **opts):
        model = train_on_phantoms(n_per_preset=opts["phantoms"], seed=opts["seed"], n_frames=opts["frames"])
        save_model(model, name=opts["out"])
        self.stdout.write(json.dumps({"version": model.version, "metrics": model.metrics}, indent=2))
