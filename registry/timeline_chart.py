"""The patient page's timeline as a picture: index procedure, follow-up contacts, clinical events
and pullbacks on one axis of years since the index, in lanes. Pure: dates in, coordinates out (an
SVG drawn by templates/registry/_timeline_chart.html, no JavaScript, so it is there at first paint).

The axis runs from the index date to the end of the study's follow-up (six years) or the last mark,
whichever is later; the follow-up window is shaded.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

WIDTH = 1000  # SVG user units; the chart scales to the width of the page
LEFT = 150  # room for the lane names
RIGHT = 24
TOP = 14
LANE_HEIGHT = 34
AXIS_HEIGHT = 34
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Mark:
    """One thing on the timeline. `lane` groups marks in a row; `kind` picks the symbol and colour
    (contact, event, death, pullback); `state` refines it (an event's verification: pending marks
    are hollow, rejected ones grey); `label` is the tooltip and the text alternative."""

    day: date
    lane: str
    kind: str
    label: str
    state: str = ""
    anchor: str = ""  # an id on the page this mark stands for (a table row)


# Each kind's symbol as an SVG path around (0, 0): readable without colour.
_SYMBOLS = {
    "contact": "m-6 0 a6 6 0 1 0 12 0 a6 6 0 1 0 -12 0",  # circle
    "event": "m0 -9 l9 9 l-9 9 l-9 -9 z",  # diamond
    "death": "m-7 -7 l14 14 m0 -14 l-14 14",  # cross
    "pullback": "m-6 -6 h12 v12 h-12 z",  # square
}


def symbol_path(kind: str, x: float = 0, y: float = 0) -> str:
    return f"M{x:g} {y:g} {_SYMBOLS.get(kind, _SYMBOLS['event'])}"


@dataclass
class _Lane:
    name: str
    y: float
    marks: list[dict] = field(default_factory=list)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def timeline_chart(index_date: date, marks: list[Mark], *, lanes: list[str], follow_up_days: int) -> dict:
    """Lanes with their marks placed (x, y), year ticks and the follow-up window, in SVG units.

    `lanes` orders the rows; a lane without marks is still drawn (an empty row says "none").
    Marks before the index date (a pullback read the day before) sit at the left edge.
    """
    window_end = index_date + timedelta(days=follow_up_days)
    last = max([window_end, *(m.day for m in marks)])
    span_days = max((last - index_date).days, 1)
    plot_width = WIDTH - LEFT - RIGHT

    def x_of(day: date) -> float:
        return LEFT + plot_width * max(0, (day - index_date).days) / span_days

    names = list(dict.fromkeys([*lanes, *(m.lane for m in marks)]))
    rows = {name: _Lane(name, TOP + LANE_HEIGHT * (i + 0.5)) for i, name in enumerate(names)}
    for mark in sorted(marks, key=lambda m: m.day):
        lane = rows[mark.lane]
        x = round(x_of(mark.day), 1)
        lane.marks.append(
            {
                "x": x,
                "y": lane.y,
                "path": symbol_path(mark.kind, x, lane.y),
                "kind": mark.kind,
                "state": mark.state,
                "label": f"{mark.day:%Y-%m-%d}: {mark.label}",
                "anchor": mark.anchor,
            }
        )
    plot_bottom = TOP + LANE_HEIGHT * len(names)
    span_years = span_days / DAYS_PER_YEAR
    step = 1 if span_years <= 12 else 2 if span_years <= 24 else 5
    # Whole years (a day's rounding allowed: 2,191 days is the sixth anniversary in a leap cycle).
    ticks = [
        {"x": round(min(x_of(_years_after(index_date, year)), LEFT + plot_width), 1), "label": f"{year}"}
        for year in range(0, int(span_years + 0.01) + 1, step)
    ]
    window_x1 = round(x_of(window_end), 1)
    return {
        "width": WIDTH,
        "height": plot_bottom + AXIS_HEIGHT,
        "left": LEFT,
        "lane_label_x": LEFT - 12,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": plot_bottom,
        "tick_label_y": plot_bottom + 16,
        "axis_title_y": plot_bottom + AXIS_HEIGHT - 2,
        "lanes": [{"name": lane.name, "y": lane.y, "marks": lane.marks} for lane in rows.values()],
        "ticks": ticks,
        "window": {
            "x": LEFT,
            "y": TOP,
            "width": round(window_x1 - LEFT, 1),
            "height": plot_bottom - TOP,
            "years": round(follow_up_days / DAYS_PER_YEAR),
        },
        "n_marks": len(marks),
        "legend": {kind: symbol_path(kind) for kind in _SYMBOLS},
    }
