"""`python manage.py run_analysis SPEC.json --out RESULT.json`: the API's analysis from the command line.

The same service as the web and the API (analytics.services.analysis_run), and the same output: the
stored result with the data dictionary's label fields, as GET /api/analyses/<id>/ gives it."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analytics import dictionary
from analytics import warnings as safeguards
from analytics.cohort_data import SpecError
from analytics.services import analysis_run


class Command(BaseCommand):
    help = (
        "Run the analysis SPEC.json (the format of POST /api/analyses/) on all patients, store the run, "
        "and write its result JSON to --out (or stdout)."
    )

    def add_arguments(self, parser):
        parser.add_argument("spec", type=Path)
        parser.add_argument("--out", type=Path, help="where to write the result JSON")

    def handle(self, *args, spec: Path, out: Path | None, **options):
        try:
            spec_data = json.loads(spec.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read the spec {spec}: {exc}") from None
        try:
            # The command line runs as the system: all patients, all sites.
            run = analysis_run(spec=spec_data, user=None)
        except SpecError as exc:
            raise CommandError(f"bad spec: {exc}") from None
        if run.result is None:
            raise CommandError(f"analysis {run.pk} failed: {run.error}")
        result = dictionary.label_result(run.result)  # as the API's result (AnalysisRunDetailSerializer)
        text = json.dumps(result, allow_nan=False, indent=1)
        if out is None:
            self.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
        self._summary(run, result, out)

    def _summary(self, run, result: dict, out: Path | None) -> None:
        write = self.stderr.write if out is None else self.stdout.write
        write(f"analysis {run.pk}: {result['n']} patients, endpoint {result['spec']['endpoint']}, data {run.data_hash[:12]}")
        for g in result["groups"]:
            write(f"  {g['label']}: {g['n']} patients, {g['events']} events")
        write(f"  log-rank p = {_number(result['logrank']['p'], '.4g')}")
        # The models' rows and warnings by their terms (as the documentation shows them: "HR ics_high = ...").
        found = run.result.get("warnings", [])
        for row in run.result["cox"]["univariable"]:
            write(f"  HR {row['term']} = {_hazard_ratio(row, found)}")
        if found:
            write(f"  {len(found)} warning{'s' if len(found) > 1 else ''}:")
            for w in found:
                write(f"    [{w['code']}] {safeguards.describe(w)}")
        if out is not None:
            write(f"  result written to {out}")


def _hazard_ratio(row: dict, found: list[dict]) -> str:
    """ "1.234 (0.987-1.543), p = 0.0612", or "not estimable (no events in ICS t1)" without a number."""
    if not safeguards.estimable(row):
        return safeguards.not_estimable_text(row, found)
    ci = f"{_number(row['ci_lower'], '.3f')}-{_number(row['ci_upper'], '.3f')}"
    return f"{_number(row['hr'], '.3f')} ({ci}), p = {_number(row['p'], '.4g')}"


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
