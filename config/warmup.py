"""Work a web worker does once at start instead of on its first requests: importing config/wsgi.py
does it (gunicorn's workers, `manage.py runserver`), and gunicorn's post_worker_init asks again
(``config/gunicorn.conf.py``); it runs once per process. Management commands never import the WSGI
module, so they start without pandas, scipy or plotly (tests/test_startup_imports.py).

The first pullback page of a fresh process took 2.1 s against 48 ms for the next ones: plotly
imports a validator module per property on first use and builds the page template's JSON once.
The URLconf (every view module) loads on the first request too.
"""

import numpy as np

_done = False


def warm_up() -> None:
    """Load the URLconf and draw one small figure of every kind the pages draw (once per process)."""
    global _done
    if _done:
        return
    import plotly.graph_objects as go
    from django.urls import get_resolver

    from core import lazy
    from scoring import charts

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    lazy.import_named()  # and what they import on first use: pandas, scipy, plotly, pydicom, ReportLab
    charts.calcium_map_figure(np.zeros((2, 4), bool), frame_spacing_mm=0.1)
    charts.arc_figure([0.0, 10.0], frame_spacing_mm=0.1)
    # The analysis pages: lines with confidence bands, error bars, the simple_white template.
    band = go.Scatter(x=[0, 1], y=[0, 1], fill="tonexty", line={"shape": "hv", "dash": "dot"}, error_x={"array": [0.1]})
    go.Figure(band, layout={"template": "simple_white", "xaxis": {"type": "log"}}).to_json()
    _done = True
