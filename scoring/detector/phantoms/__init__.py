"""Synthetic IVUS pullbacks with per-A-line ground truth, one module per generator family:
:mod:`~scoring.detector.phantoms.polar_speckle` (family 1) simulates A-lines in the polar domain (speckle,
attenuation, shadows) and scan-converts them; :mod:`~scoring.detector.phantoms.rf_scatter` (family 2) draws
the anatomy in the cross-section plane and simulates point scatterers, a 40 MHz pulse, a beam, attenuation,
reverberations and NURD. Both modules offer ``PRESETS``, ``make_phantom``, ``iter_frames`` and ``phantom_truth``."""

from types import ModuleType

from scoring.detector.phantoms import polar_speckle, rf_scatter

FAMILIES = {1: polar_speckle, 2: rf_scatter}


def family(number: int) -> ModuleType:
    """The generator module of phantom family ``number`` (see :data:`FAMILIES`)."""
    try:
        return FAMILIES[number]
    except (KeyError, TypeError):
        known = ", ".join(str(key) for key in FAMILIES)
        raise ValueError(f"unknown phantom family {number!r}; choose one of {known}") from None
