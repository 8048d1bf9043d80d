"""Rebuild the shipped default model from phantoms: ``python -m scoring.detector.train_default``.

Reproducible: fixed seed, fixed phantom set; the same library versions give the same .npz (same
model version; only the timings in the JSON metrics differ).
Training phantoms come from BOTH phantom families (:mod:`scoring.detector.phantoms`) and are
domain-randomised (a random look per pullback: gain, TGC, speckle or scatterers, pulse and beam,
noise floor, echo levels, display map, calcium shadow, guidewire, ring-down), so the model does
not learn one generator's constants. Training seeds (from ``SEED``; family 2 from
``SEED + train.FAMILY2_SEED_OFFSET``) are disjoint from every evaluation seed
(:mod:`scoring.detector.cross_family`: 50 000-68 999; benchmarks: below 10 000).
Takes about 5 minutes on 2 cores (12.7 minutes measured with other jobs on the same 2 cores).
"""

import json
import sys

from scoring.detector.model_store import DEFAULT_MODEL, save_model
from scoring.detector.train import train_on_phantoms

SEED = 20240401
N_PER_PRESET = 10  # x 4 presets = 40 distinct family-1 pullbacks, each with its own random look ...
N_FRAMES = 120  # ... of 120 frames: twice the looks of 20 x 240 frames at the same cost (grouped CV: better)
FAMILY2 = (6, 64)  # family 2: 6 pullbacks x 6 anatomy presets, 64 frames each (rendering costs ~60 ms a frame)


def main() -> int:
    model = train_on_phantoms(n_per_preset=N_PER_PRESET, seed=SEED, n_frames=N_FRAMES, family2=FAMILY2)
    save_model(model, name=DEFAULT_MODEL)
    print(json.dumps({"version": model.version, "metrics": model.metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
