"""The follow-up derivation: last contact, status, and time/status per endpoint."""

from datetime import date, timedelta

import pytest

from registry.follow_up import (
    CENSORED,
    COMPETING,
    EVENT,
    Contact,
    Event,
    endpoint_outcomes,
    follow_up_state,
    last_contact_date,
)

INDEX = date(2012, 1, 1)


def day(n: int) -> date:
    return INDEX + timedelta(days=n)


def test_last_contact_is_latest_contact_or_verified_event():
    contacts = [Contact(day(100)), Contact(day(300))]
    events = [Event("mi", day(500), "verified"), Event("stroke", day(900), "pending")]
    assert last_contact_date(contacts, events) == day(500)


def test_death_ends_follow_up_even_with_a_later_contact_record():
    contacts = [Contact(day(1200))]
    assert last_contact_date(contacts, [Event("death", day(1000), "verified")]) == day(1000)


def test_rejected_and_pending_events_do_not_extend_follow_up():
    events = [Event("mi", day(800), "rejected"), Event("mi", day(900), "pending")]
    assert last_contact_date([Contact(day(10))], events) == day(10)
    assert last_contact_date([], []) is None


@pytest.mark.parametrize(
    ("last_contact_day", "as_of_day", "expected"),
    [
        (2191, 2500, "complete"),
        (1500, 1500 + 365, "active"),
        (1500, 1500 + 366, "overdue"),
        (1500, 1500 + 730, "overdue"),
        (1500, 1500 + 731, "lost"),
    ],
)
def test_status_follows_the_time_since_last_contact(last_contact_day, as_of_day, expected):
    state = follow_up_state(
        index_date=INDEX, contacts=[Contact(day(last_contact_day), "alive")], events=[], as_of=day(as_of_day)
    )
    assert state.status == expected
    assert state.follow_up_days == last_contact_day
    assert state.vital_status == "alive"


def test_without_contacts_the_index_date_is_the_reference():
    state = follow_up_state(index_date=INDEX, contacts=[], events=[], as_of=day(800))
    assert (state.status, state.last_contact_date, state.follow_up_days, state.vital_status) == (
        "lost",
        None,
        None,
        "unknown",
    )


def test_death_and_withdrawal_override_other_statuses():
    dead = follow_up_state(index_date=INDEX, contacts=[], events=[Event("death", day(50))], as_of=day(5000))
    assert (dead.status, dead.death_date, dead.vital_status) == ("deceased", day(50), "dead")
    reported = follow_up_state(index_date=INDEX, contacts=[Contact(day(60), "dead")], events=[], as_of=day(5000))
    assert reported.status == "deceased" and reported.death_date is None
    withdrawn = follow_up_state(
        index_date=INDEX, contacts=[], events=[Event("death", day(50))], as_of=day(60), withdrawn=True
    )
    assert withdrawn.status == "withdrawn"


def test_first_event_wins_and_death_competes_for_non_fatal_endpoints():
    events = [
        Event("mi", day(400), target_vessel=True),
        Event("death", day(900)),
        Event("revascularization", day(700), target_vessel=False),
    ]
    out = endpoint_outcomes(index_date=INDEX, last_contact=day(900), events=events)
    assert (out["poce"].duration_days, out["poce"].status) == (400, EVENT)
    assert (out["death"].duration_days, out["death"].status) == (900, EVENT)
    assert (out["mi"].duration_days, out["mi"].status) == (400, EVENT)
    assert (out["tv_mi"].duration_days, out["tv_mi"].status) == (400, EVENT)
    assert (out["revascularization"].duration_days, out["revascularization"].status) == (700, EVENT)
    assert (out["tvr"].duration_days, out["tvr"].status) == (900, COMPETING)
    assert (out["stroke"].duration_days, out["stroke"].status) == (900, COMPETING)


def test_censoring_at_last_contact_or_horizon():
    out = endpoint_outcomes(index_date=INDEX, last_contact=day(1500), events=[])
    assert {(o.duration_days, o.status) for o in out.values()} == {(1500, CENSORED)}
    out = endpoint_outcomes(index_date=INDEX, last_contact=day(4000), events=[Event("stroke", day(2192))])
    assert (out["stroke"].duration_days, out["stroke"].status) == (2191, CENSORED)
    assert (out["poce"].duration_days, out["poce"].status) == (2191, CENSORED)
    assert endpoint_outcomes(index_date=INDEX, last_contact=None, events=[])["poce"].duration_days == 0


def test_event_on_index_date_counts_at_day_zero_and_on_the_horizon_day_counts():
    out = endpoint_outcomes(index_date=INDEX, last_contact=day(3000), events=[Event("mi", INDEX)])
    assert (out["mi"].duration_days, out["mi"].status) == (0, EVENT)
    out = endpoint_outcomes(index_date=INDEX, last_contact=day(3000), events=[Event("mi", day(2191))])
    assert (out["mi"].duration_days, out["mi"].status) == (2191, EVENT)


def test_pending_counts_by_default_rejected_never():
    events = [Event("stroke", day(100), "rejected"), Event("mi", day(200), "pending")]
    with_pending = endpoint_outcomes(index_date=INDEX, last_contact=day(1000), events=events)
    assert (with_pending["poce"].duration_days, with_pending["poce"].status) == (200, EVENT)
    assert with_pending["stroke"].status == CENSORED
    verified_only = endpoint_outcomes(index_date=INDEX, last_contact=day(1000), events=events, count_pending=False)
    assert (verified_only["poce"].duration_days, verified_only["poce"].status) == (1000, CENSORED)


def test_same_day_death_and_mi_counts_as_mi():
    out = endpoint_outcomes(index_date=INDEX, last_contact=day(50), events=[Event("death", day(50)), Event("mi", day(50))])
    assert (out["mi"].duration_days, out["mi"].status) == (50, EVENT)
    assert out["stroke"].status == COMPETING


def test_custom_horizon():
    out = endpoint_outcomes(index_date=INDEX, last_contact=day(2000), events=[Event("mi", day(400))], horizon_days=365)
    assert (out["mi"].duration_days, out["mi"].status) == (365, CENSORED)
