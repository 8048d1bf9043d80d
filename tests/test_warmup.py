"""The web worker's warm-up (config/gunicorn.conf.py -> config/warmup.py) runs in a plain process."""

import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_gunicorn_config_warms_each_worker_with_the_project_s_warm_up():
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert config["wsgi_app"] == "config.wsgi:application"
    assert callable(config["post_worker_init"])


def test_the_warm_up_loads_the_views_and_plotly_s_validators_before_any_request():
    code = (
        "import sys, django; django.setup(); from config.warmup import warm_up; warm_up(); "
        "print('scoring.views' in sys.modules, 'analytics.views' in sys.modules, "
        "'plotly.graph_objs.heatmap.colorbar' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"DJANGO_SETTINGS_MODULE": "config.settings_test", "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert out[-3:] == ["True", "True", "True"]
