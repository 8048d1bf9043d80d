"""Rebuild the shipped default model from phantoms: ``python -m scoring.detector.train_default``.

Reproducible: fixed seed, fixed phantom set; the same library versions give the same .npz (same
model version; only the timings in the JSON metrics differ).
Training phantoms are domain-randomised (a random look per pullback: gain, TGC, speckle model,
PSF, noise floor, echo levels, calcium shadow, guidewire, ring-down), so the model does not
learn one generator's constants. Takes about 1.5 minutes on 2 cores.
"""

import json
import sys

from scoring.detector.model_store import DEFAULT_MODEL, save_model
from scoring.detector.train import train_on_phantoms

SEED = 20240401
N_PER_PRESET = 10  # x 4 presets = 40 distinct pullbacks, each with its own random look ...
N_FRAMES = 120  # ... of 120 frames: twice the looks of 20 x 240 frames at the same cost (grouped CV: better)


def main() -> int:
    model = train_on_phantoms(n_per_preset=N_PER_PRESET, seed=SEED, n_frames=N_FRAMES)
    save_model(model, name=DEFAULT_MODEL)
    print(json.dumps({"version": model.version, "metrics": model.metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
