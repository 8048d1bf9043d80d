"""python manage.py train_detector [--phantoms N] [--annotated] --seed S --out NAME.

Trains on phantoms and/or the registry's annotated pullbacks with CV grouped by pullback, saves
the model in the model store and, with ``--annotated``, registers it as a model version that an
admin can activate.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from scoring.detector.model_store import save_model
from scoring.detector.train import N_ALINES, annotated_set, train_on_sets, training_sets


class Command(BaseCommand):
    help = (
        "Train the calcium detector on phantoms and/or annotated pullbacks (grouped CV report), save it in "
        "the model store and, with --annotated, register it as a model version."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--phantoms",
            type=int,
            default=None,
            help="domain-randomised phantoms per preset (default 3, or 0 with --annotated)",
        )
        parser.add_argument(
            "--annotated", action="store_true", help="train on the annotated frames of the registry's included pullbacks"
        )
        parser.add_argument("--seed", type=int, default=20240401)
        parser.add_argument("--frames", type=int, default=240, help="frames per phantom")
        parser.add_argument("--workers", type=int, default=2, help="processes for reading annotated pullbacks")
        parser.add_argument("--out", default="candidate", help="model name in the store")

    def handle(self, *args, **opts):
        n_phantoms = opts["phantoms"] if opts["phantoms"] is not None else (0 if opts["annotated"] else 3)
        sets = training_sets(n_per_preset=n_phantoms, seed=opts["seed"], n_frames=opts["frames"]) if n_phantoms else []
        annotated = self._annotated_sets(opts["workers"]) if opts["annotated"] else []
        sets += annotated
        if not sets:
            raise CommandError("Nothing to train on: no annotated pullbacks and no phantoms (--phantoms N).")
        summary = {
            "source": "+".join(s for s, n in (("phantoms", n_phantoms), ("annotations", len(annotated))) if n),
            "seed": opts["seed"],
            "n_per_preset": n_phantoms,
            "n_frames": opts["frames"],
            "domain_randomised": bool(n_phantoms),
            "annotated_pullbacks": [s.seed for s in annotated],
            "annotated_frames": int(sum(len(s.truth.calcium) for s in annotated)),
        }
        try:
            model = train_on_sets(sets, seed=opts["seed"], summary=summary, compare=False)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        from scoring.model_versions import model_store_path, model_version_register

        save_model(model, name=opts["out"], store=model_store_path())
        result = {"version": model.version, "metrics": model.metrics, "training": model.training}
        if opts["annotated"]:
            result["registered_version_id"] = model_version_register(user=None, name=opts["out"]).pk
        self.stdout.write(json.dumps(result, indent=2))

    def _annotated_sets(self, workers: int) -> list:
        from scoring.annotations import annotated_training_data
        from scoring.models import Pullback

        return [
            annotated_set(item.path, pullback_id=item.pullback_id, frames=item.frames, labels=item.labels, workers=workers)
            for item in annotated_training_data(Pullback.objects.order_by("pk"), n_alines=N_ALINES)
        ]
