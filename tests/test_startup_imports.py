"""`manage.py check` and every other management command start without the science stack:
django.setup() and the URLconf import no pandas, scipy, plotly, pydicom, scikit-learn or ReportLab
(numpy is allowed). They took 2-3 s of every start; the views name the modules that need them with
core.lazy.lazy_module, and a server imports those before its first request (config/wsgi.py ->
config/warmup.py).
Structural checks of what gets imported, not timings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.lazy import lazy_module

ROOT = Path(__file__).resolve().parents[1]
SCIENCE = ("scipy", "pandas", "plotly", "pydicom", "sklearn", "reportlab")
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings_test",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONDONTWRITEBYTECODE": "1",
}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True, env=ENV, timeout=120
    )


def _imported_packages(importtime_log: str) -> set[str]:
    """Top-level package names in `python -X importtime` output (stderr)."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_manage_py_check_imports_none_of_the_science_stack():
    done = _run("-X", "importtime", "manage.py", "check")
    imported = _imported_packages(done.stderr)
    assert "django" in imported and "analytics" in imported  # the log was read, the URLconf loaded
    assert imported & set(SCIENCE) == set()


def test_setup_and_url_loading_leave_the_science_stack_out_of_sys_modules():
    code = (
        "import sys, django; django.setup(); from django.urls import get_resolver; "
        "get_resolver().url_patterns; "
        "print(sorted({m.split('.')[0] for m in sys.modules}), 'analytics.views' in sys.modules)"
    )
    out = _run("-c", code).stdout.strip()
    packages, views_loaded = out.rsplit(" ", 1)
    assert views_loaded == "True"
    assert [name for name in SCIENCE if f"'{name}'" in packages] == []


def test_the_warm_up_imports_what_the_views_left_for_first_use():
    code = (
        "import sys, django; django.setup(); from config.warmup import warm_up; warm_up(); "
        "print(*[name in sys.modules for name in ('scipy', 'pandas', 'pydicom', 'reportlab', 'analytics.services')])"
    )
    assert _run("-c", code).stdout.split() == ["True"] * 5


def test_a_server_importing_the_wsgi_module_is_warmed_up_once_before_its_first_request():
    code = (
        "import sys; import config.wsgi; from config import warmup; "
        "print(warmup._done, *[name in sys.modules for name in ('scipy', 'pandas', 'analytics.services')])"
    )
    assert _run("-c", code).stdout.split() == ["True"] * 4


def test_a_lazy_module_imports_its_module_on_first_use_and_forwards_reads_and_writes(monkeypatch):
    module = lazy_module("json")
    assert module.dumps([1]) == "[1]"
    monkeypatch.setattr(module, "answer", 42, raising=False)  # patches the real module
    assert sys.modules["json"].answer == 42


def test_a_lazy_module_that_does_not_exist_fails_at_first_use():
    module = lazy_module("analytics.no_such_module")
    with pytest.raises(ModuleNotFoundError):
        module.anything  # noqa: B018
