"""CSV fuzz run at scale: many mutated copies of the canonical patients.csv / events.csv, each imported
into a seeded registry (the checks of tests/registry/test_csv_fuzz.py, see tests/registry/csv_fuzz_cases.py).

Usage: .venv/bin/python benchmarks/csv_fuzz.py [--seed 1] [--cases 5000]
Runs on a fresh SQLite database in a temporary VAR_DIR, or on DATABASE_URL if set (then the database
must be empty; every case is rolled back). Prints one summary line; every server error or broken
invariant is listed on stderr, and the exit status is 1 if there is any.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="csv-fuzz-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    import time_machine
    from django.core.management import call_command
    from django.db import connection, transaction

    from tests.registry.csv_fuzz_cases import FROZEN_NOW, run_cases, seed_registry

    call_command("migrate", verbosity=0)
    start = time.perf_counter()
    with time_machine.travel(FROZEN_NOW, tick=False), transaction.atomic():
        seed_registry()
        outcomes, findings = run_cases(args.seed, args.cases)
        transaction.set_rollback(True)
    for finding in findings:
        print(finding, file=sys.stderr)
    print(
        f"CSV fuzz ({connection.vendor}, seed {args.seed}): {args.cases} cases run, {outcomes['imported']} imported, "
        f"{outcomes['refused']} refused, {outcomes['server error']} server errors, {outcomes['fault']} faults "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
