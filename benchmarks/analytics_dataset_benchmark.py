"""Benchmark: registry rows -> analysis DataFrame (analytics.datasets.analysis_dataframe) for
100,000 synthetic patients in a throw-away SQLite database, with the number of queries; then the
full analysis (run_analysis) on that DataFrame.

    .venv/bin/python benchmarks/analytics_dataset_benchmark.py [N]
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from analytics.analysis import run_analysis
        from analytics.datasets import analysis_dataframe
        from registry.models import Patient
        from tests.analytics.registry_cohort import registry_cohort

        call_command("migrate", verbosity=0)
        start = time.perf_counter()
        registry_cohort(n, seed=2026)
        print(f"loaded {n} synthetic patients in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            df = analysis_dataframe(patients=Patient.objects.all())
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        result = run_analysis(df, {"endpoint": "revascularization"})
        analysis_s = time.perf_counter() - start
        print(f"{'patients':>9} {'ORM->DataFrame s':>17} {'queries':>8} {'run_analysis s':>15}")
        print(f"{len(df):>9} {load_s:17.2f} {len(queries):>8} {analysis_s:15.2f}  (n analysed {result['n']})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
