"""python manage.py make_phantom OUT.dcm --frames N --seed S [--family F] --preset P [--rle] [--randomise]: a phantom + truth."""

from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from scoring.detector.phantoms import FAMILIES, family
from scoring.dicom import files


class Command(BaseCommand):
    help = "Write a synthetic IVUS pullback (DICOM) and its truth (OUT.truth.npz)."

    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument("--frames", type=int, default=600)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--family",
            type=int,
            choices=sorted(FAMILIES),
            default=1,
            help="phantom generator: 1 polar speckle, 2 RF point scatterers",
        )
        parser.add_argument("--preset", default="typical", help="one of the family's PRESETS")
        parser.add_argument("--rle", action="store_true", help="RLE Lossless instead of uncompressed")
        parser.add_argument("--alines", type=int, default=256, help="A-lines of the truth masks")
        parser.add_argument(
            "--randomise",
            action="store_true",
            help="draw the look (gain, speckle, PSF, echo levels, wire...) from the training ranges",
        )

    def handle(self, *args, **opts):
        if opts["frames"] < 2:
            raise CommandError("--frames must be at least 2 (a pullback is multi-frame)")
        generator = family(opts["family"])
        if opts["preset"] not in generator.PRESETS:
            raise CommandError(
                f"unknown preset {opts['preset']!r} for family {opts['family']}; "
                f"choose one of {', '.join(generator.PRESETS)}"
            )
        plan = generator.make_phantom(opts["frames"], seed=opts["seed"], preset=opts["preset"], randomise=opts["randomise"])
        out = Path(opts["out"])
        files.write_pullback(
            out,
            generator.iter_frames(plan),
            n_frames=opts["frames"],
            rle=opts["rle"],
            frame_rate_hz=plan.spec.frame_rate_hz,
            pullback_rate_mm_s=plan.spec.pullback_rate_mm_s,
            pixel_spacing_mm=plan.spec.pixel_spacing_mm,
        )
        truth = generator.phantom_truth(plan, n_alines=opts["alines"])
        truth_path = out.with_suffix(".truth.npz")
        # Every mask of the family (calcium, guidewire, fibrous and the morphology masks), same keys in both.
        np.savez_compressed(
            truth_path, **generator.truth_arrays(truth), alines=opts["alines"], ics=truth.ics, family=opts["family"]
        )
        self.stdout.write(f"{out} ({opts['frames']} frames, ICS truth {truth.ics:.1f}); truth in {truth_path}")
