"""Names of the registry's patient variables that several modules list (pure: no Django, so the
CSV layer and the analysis frames can use them as well as the models)."""

# The yes/no/unknown baseline risk factors and history, in the study's Table 1 order.
BASELINE_FLAGS = (
    "hypertension",
    "hypercholesterolemia",
    "statin",
    "diabetes",
    "family_history",
    "smoking",
    "prior_mi",
    "prior_pci",
    "prior_cabg",
    "prior_stroke",
    "prior_pad",
)
