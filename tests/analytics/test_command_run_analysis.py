"""`manage.py run_analysis SPEC.json --out RESULT.json`: the same service and numbers as the API."""

import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics.analysis import run_analysis
from analytics.models import AnalysisRun
from registry.selectors import analysis_rows
from tests.analytics.registry_cohort import registry_cohort


@pytest.mark.django_db
def test_it_writes_the_result_and_prints_a_summary(tmp_path, capsys, investigator):
    registry_cohort(150, seed=5)
    spec = {"endpoint": "poce", "grouping": {"variable": "ics", "cutoff": 85}, "horizon_days": 1826}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    call_command("run_analysis", str(tmp_path / "spec.json"), "--out", str(tmp_path / "result.json"))
    result = json.loads((tmp_path / "result.json").read_text())
    rows = pd.DataFrame(analysis_rows(user=investigator, horizon_days=1826))
    assert result == json.loads(json.dumps(run_analysis(rows, spec)))
    out = capsys.readouterr().out
    assert f"{result['n']} patients" in out and "log-rank p" in out and "HR ics_high" in out
    run = AnalysisRun.objects.get()
    assert run.created_by is None and run.status == "succeeded" and run.result == result


@pytest.mark.django_db
def test_a_bad_spec_is_a_command_error(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"endpoint": "happiness"}))
    with pytest.raises(CommandError, match="unknown endpoint"):
        call_command("run_analysis", str(tmp_path / "spec.json"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(CommandError, match="cannot read the spec"):
        call_command("run_analysis", str(tmp_path / "broken.json"))
