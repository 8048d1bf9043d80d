"""The patient page's timeline picture (registry.timeline_chart): marks placed on an axis of years
since the index, in their lanes, with the follow-up window shaded."""

from datetime import date

import pytest

from registry.timeline_chart import LEFT, RIGHT, WIDTH, Mark, symbol_path, timeline_chart

INDEX = date(2020, 1, 1)
PLOT = WIDTH - LEFT - RIGHT


def test_marks_sit_at_their_day_since_the_index_in_their_lane():
    marks = [
        Mark(date(2023, 1, 1), "Contacts", "contact", "Phone, vital status alive", anchor="contact-3"),
        Mark(date(2021, 7, 2), "Events", "event", "Myocardial infarction (to verify)", state="pending", anchor="event-9"),
        Mark(date(2019, 12, 30), "Pullbacks", "pullback", "Pullback #4", state="study"),  # read before the index
    ]
    chart = timeline_chart(INDEX, marks, lanes=["Contacts", "Events", "Pullbacks"], follow_up_days=2191)
    span = 2191  # the follow-up window is longer than the last mark
    lanes = {lane["name"]: lane for lane in chart["lanes"]}
    assert list(lanes) == ["Contacts", "Events", "Pullbacks"]
    contact = lanes["Contacts"]["marks"][0]
    assert contact["x"] == pytest.approx(LEFT + PLOT * 1096 / span, abs=0.05)
    assert contact["label"] == "2023-01-01: Phone, vital status alive" and contact["anchor"] == "contact-3"
    event = lanes["Events"]["marks"][0]
    assert (event["kind"], event["state"]) == ("event", "pending") and event["y"] > contact["y"]
    assert event["path"] == symbol_path("event", event["x"], event["y"])
    assert lanes["Pullbacks"]["marks"][0]["x"] == LEFT  # before the index: at the left edge
    assert chart["window"]["width"] == pytest.approx(PLOT) and chart["window"]["years"] == 6
    assert [t["label"] for t in chart["ticks"]] == ["0", "1", "2", "3", "4", "5", "6"]
    assert chart["ticks"][1]["x"] == pytest.approx(LEFT + PLOT * 366 / span, abs=0.05)  # 2020 is a leap year


def test_a_long_follow_up_stretches_the_axis_and_thins_the_ticks():
    late = Mark(date(2036, 1, 1), "Contacts", "contact", "Civil registry check")
    chart = timeline_chart(INDEX, [late], lanes=["Contacts", "Events"], follow_up_days=2191)
    assert chart["lanes"][0]["marks"][0]["x"] == pytest.approx(WIDTH - RIGHT)  # the last mark ends the axis
    assert chart["window"]["width"] == pytest.approx(PLOT * 2191 / (date(2036, 1, 1) - INDEX).days, abs=0.1)
    assert [t["label"] for t in chart["ticks"]] == ["0", "2", "4", "6", "8", "10", "12", "14", "16"]
    assert chart["lanes"][1] == {"name": "Events", "y": chart["lanes"][1]["y"], "marks": []}  # an empty lane is drawn


def test_each_kind_has_its_own_symbol():
    paths = {kind: symbol_path(kind, 10, 20) for kind in ("contact", "event", "death", "pullback")}
    assert len(set(paths.values())) == 4 and all(p.startswith("M10 20 ") for p in paths.values())
