"""Synthetic IVUS pullbacks with per-A-line ground truth, one module per generator family:
:mod:`~scoring.detector.phantoms.polar_speckle` simulates A-lines in the polar domain (speckle,
attenuation, shadows) and scan-converts them."""
