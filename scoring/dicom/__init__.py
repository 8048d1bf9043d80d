"""IVUS DICOM without Django: reading and validating pullback files, writing them (phantoms,
de-identified copies), de-identification of the header, and one frame as PNG with arcs drawn."""
