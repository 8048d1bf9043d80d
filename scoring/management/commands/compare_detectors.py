"""python manage.py compare_detectors --candidate NAME [--active NAME] [--json].

Compares a candidate model of the store with the active one (default: the model scoring uses now)
on the registry's annotated pullbacks before an admin switches: per-A-line metrics against the
annotations, ICS agreement, and the pullbacks whose ICS group would change at the study cut-off.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from scoring.detector_comparison import ComparisonError, compare_versions

_METRICS = (
    ("accuracy", "A-line accuracy", 3),
    ("precision", "A-line precision", 3),
    ("recall", "A-line recall", 3),
    ("f1", "A-line F1", 3),
    ("ics_mean_diff_vs_annotations", "ICS − annotations ICS (mean, annotated frames)", 1),
    ("ics_icc_vs_annotations", "ICC with the annotations' ICS", 3),
)


def _num(value, digits: int = 3) -> str:
    return "—" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.000"


class Command(BaseCommand):
    help = (
        "Compare a candidate detector model with the active one on the annotated pullbacks: A-line metrics, "
        "ICS agreement and ICS group changes at the study cut-off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--candidate", required=True, help="model name in the store to compare")
        parser.add_argument("--active", default=None, help="model name to compare with (default: the active model)")
        parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
        parser.add_argument("--workers", type=int, default=2, help="processes for reading pullbacks")

    def handle(self, *args, **opts):
        from scoring.services import settings_model_name

        active = opts["active"] or settings_model_name()
        try:
            comparison = compare_versions(active=active, candidate=opts["candidate"], workers=opts["workers"])
        except ComparisonError as exc:
            raise CommandError(str(exc)) from exc
        data = comparison.as_dict()
        self.stdout.write(json.dumps(data, indent=2) if opts["json"] else "\n".join(self._table(data)))

    def _table(self, data: dict) -> list[str]:
        active, candidate = (f"{data[m]['name']} ({data[m]['version']})" for m in ("active", "candidate"))
        lines = [
            f"Active:    {active}",
            f"Candidate: {candidate}",
            f"On {data['n_annotated_frames']} annotated frames of {data['n_pullbacks']} pullback(s) of "
            f"{data['n_patients']} patient(s).",
            "",
            f"{'':48}{'Active':>10}{'Candidate':>12}",
        ]
        for key, label, digits in _METRICS:
            values = [_num(data["models"][m][key], digits) for m in ("active", "candidate")]
            lines.append(f"{label:48}{values[0]:>10}{values[1]:>12}")
        agreement, changes = data["agreement"], data["group_changes"]
        lines += [
            "",
            "ICS agreement, whole pullbacks (candidate − active):",
            f"  mean difference {_num(agreement['mean_diff'], 1)}, limits of agreement "
            f"{_num(agreement['lower'], 1)} to {_num(agreement['upper'], 1)}, ICC(2,1) {_num(agreement['icc'])}",
            f"ICS group changes at {data['cutoff']:g} (ICS >= {data['cutoff']:g} is high): "
            f"{changes['n_pullbacks']} pullback(s), {changes['n_patients']} patient(s)"
            + (f": {', '.join(changes['patients'])}" if changes["patients"] else ""),
            "",
            f"{'Pullback':>8}  {'Patient':14}{'Frames':>7}{'Annot.':>8}{'Active':>8}{'Cand.':>8}{'Diff.':>8}  Group",
        ]
        for r in data["pullbacks"]:
            group = f"{r['group_active']} → {r['group_candidate']}" if r["group_changes"] else r["group_active"]
            lines.append(
                f"{r['pullback_id']:>8}  {r['patient'][:14]:14}{r['annotated_frames']:>7}"
                f"{r['ics_annotations']:>8.1f}{r['ics_active']:>8.1f}{r['ics_candidate']:>8.1f}"
                f"{r['ics_difference']:>8.1f}  {group}"
            )
        lines.append("Annot.: ICS of the annotations on the annotated frames; Active, Cand.: whole-pullback ICS.")
        return lines
