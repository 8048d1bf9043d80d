"""The patient list as a search and a sortable table: what each role's search finds (names and
hospital numbers only for roles that may see identifiers), the sortable columns with aria-sort,
and the ICS column."""

from datetime import date

import pytest
import time_machine

from tests.conftest import client_for
from tests.factories import ContactFactory, IdentityFactory, PatientFactory

TODAY = "2026-11-27"


def _ids(response) -> list[str]:
    return [row.patient.study_id for row in response.context["page"]]


@pytest.fixture
def named(site):
    """Three patients with identifiers: accents, family names and hospital numbers to search for."""
    IdentityFactory(
        patient=PatientFactory(study_id="ICS-0001", site=site),
        name="José Müller",
        family_name="Müller",
        hospital_number="MRN1",
    )
    IdentityFactory(
        patient=PatientFactory(study_id="ICS-0002", site=site),
        name="Anna de Vries",
        family_name="de Vries",
        hospital_number="MRN2",
    )
    IdentityFactory(
        patient=PatientFactory(study_id="ICS-0003", site=site),
        name="Jan Jansen",
        family_name="Jansen",
        hospital_number="MRN3",
    )


# Search --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["coordinator", "clinician", "admin"])
@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("vries", ["ICS-0002"]),  # part of the name, any case
        ("ANNA DE", ["ICS-0002"]),
        ("muller", ["ICS-0001"]),  # without the accent
        ("MÜLLER", ["ICS-0001"]),  # upper case with the accent
        ("jose", ["ICS-0001"]),
        ("Jos\u0065\u0301", ["ICS-0001"]),  # e + combining acute, as some keyboards send it
        ("ja", ["ICS-0003"]),  # "Jan Jansen" only
        ("mrn2", ["ICS-0002"]),  # a whole hospital number, any case
        ("MRN", []),  # not part of a hospital number
        ("ICS-000", ["ICS-0001", "ICS-0002", "ICS-0003"]),  # study IDs as before
    ],
)
def test_roles_that_see_identifiers_find_patients_by_name_and_hospital_number(personas, named, role, search, found):
    response = client_for(personas[role]).get("/patients/", {"q": search})

    assert response.status_code == 200
    assert _ids(response) == found


@pytest.mark.parametrize("search", ["Anna", "de Vries", "muller", "MRN2", "mrn1"])
def test_an_investigator_searching_a_name_or_hospital_number_finds_no_one(investigator, named, search):
    response = client_for(investigator).get("/patients/", {"q": search})

    assert _ids(response) == []
    html = response.content.decode()
    assert "No patients match." in html
    # Nothing tells the investigator that someone of that name exists (the search box keeps what they typed).
    for identifier in ("Anna", "Vries", "Müller", "MRN1", "MRN2", "MRN3", "Jansen"):
        assert identifier.casefold() in search.casefold() or identifier not in html


def test_an_investigator_still_finds_study_ids_and_is_told_only_study_ids_are_searched(investigator, named):
    response = client_for(investigator).get("/patients/", {"q": "ics-0002"})

    assert _ids(response) == ["ICS-0002"]
    assert response.context["form"].fields["q"].label == "Study ID"


def test_the_search_label_names_what_a_coordinator_can_search(coordinator):
    form = client_for(coordinator).get("/patients/").context["form"]

    assert form.fields["q"].label == "Study ID, name or hospital number"


def test_a_name_search_keeps_to_the_users_sites(other_site_coordinator, named):
    assert _ids(client_for(other_site_coordinator).get("/patients/", {"q": "Anna"})) == []


def test_regular_expression_characters_in_a_search_are_plain_text(coordinator, named):
    client = client_for(coordinator)

    for search in (".*", "[a-z]", "(", "\\", "^J"):
        response = client.get("/patients/", {"q": search})
        assert response.status_code == 200 and _ids(response) == [], search


# Sorting ------------------------------------------------------------------------------------


@pytest.fixture
def sortable(site, other_site):
    """Patients that differ in every sortable column."""
    a = PatientFactory(study_id="ICS-A", site=other_site, index_date=date(2022, 1, 1), ics_imported=120.0)
    b = PatientFactory(study_id="ICS-B", site=site, index_date=date(2020, 1, 1), ics_imported=None)
    c = PatientFactory(study_id="ICS-C", site=site, index_date=date(2021, 1, 1), ics_imported=30.0, study_ics=250.0)
    ContactFactory(patient=a, contact_date=date(2026, 6, 1))  # active
    ContactFactory(patient=c, contact_date=date(2025, 6, 1))  # overdue
    # B has had no contact since its index date in 2020: lost
    return a, b, c


@time_machine.travel(TODAY)
@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("study_id", ["ICS-A", "ICS-B", "ICS-C"]),
        ("-study_id", ["ICS-C", "ICS-B", "ICS-A"]),
        ("site", ["ICS-B", "ICS-C", "ICS-A"]),  # EMC before OTH, then study ID
        ("-site", ["ICS-A", "ICS-B", "ICS-C"]),
        ("index_date", ["ICS-B", "ICS-C", "ICS-A"]),
        ("-index_date", ["ICS-A", "ICS-C", "ICS-B"]),
        ("ics", ["ICS-A", "ICS-C", "ICS-B"]),  # 120, 250 (the study pullback's, not the imported 30); none last
        ("-ics", ["ICS-C", "ICS-A", "ICS-B"]),  # none last in both directions
        ("last_contact", ["ICS-C", "ICS-A", "ICS-B"]),  # no contact last
        ("-last_contact", ["ICS-A", "ICS-C", "ICS-B"]),
        ("status", ["ICS-A", "ICS-C", "ICS-B"]),  # active, overdue, lost (the filter's order)
        ("-status", ["ICS-B", "ICS-C", "ICS-A"]),
        ("name", ["ICS-A", "ICS-B", "ICS-C"]),  # not a sortable column: study ID
    ],
)
def test_the_list_sorts_by_each_column(coordinator, sortable, sort, order):
    assert _ids(client_for(coordinator).get("/patients/", {"sort": sort})) == order


def test_sorting_keeps_the_filters_and_filtering_keeps_the_sort(coordinator, sortable):
    html = (
        client_for(coordinator).get("/patients/", {"q": "ICS", "site": "EMC", "sort": "-ics", "page": "1"}).content.decode()
    )

    # The header links keep the filters, drop the page, and offer the other direction of the current sort.
    assert 'href="?q=ICS&amp;site=EMC&amp;sort=ics"' in html
    assert 'href="?q=ICS&amp;site=EMC&amp;sort=index_date"' in html
    assert '<input type="hidden" name="sort" value="-ics">' in html


def test_the_sorted_column_says_so_with_aria_sort_and_the_others_do_not(coordinator, sortable):
    client = client_for(coordinator)

    default = client.get("/patients/").content.decode()
    descending = client.get("/patients/", {"sort": "-index_date"}).content.decode()

    assert default.count("aria-sort=") == 1 and '<th scope="col" aria-sort="ascending" class="sortable">' in default
    assert descending.count("aria-sort=") == 1
    assert '<th scope="col" aria-sort="descending" class="sortable">\n  <a href="?sort=index_date">Index date' in descending
    # Keyboard users reach every sortable header as a link, told what it does.
    assert default.count('<th scope="col" class="sortable') + default.count('aria-sort="ascending" class="sortable') == 6
    assert "(sort descending)" in default and "(sort ascending)" in default


def test_the_ics_column_shows_the_patients_ics(coordinator, sortable):
    response = client_for(coordinator).get("/patients/", {"sort": "ics"})
    html = response.content.decode()

    assert '<a href="?sort=-ics">ICS' in html
    assert '<td class="num">120</td>' in html and '<td class="num">250</td>' in html
    assert '<td class="num">30</td>' not in html  # the imported ICS does not count when a study pullback has one


@pytest.mark.parametrize("sort", ["ics", "-status", "last_contact"])
def test_a_sorted_page_costs_no_more_queries(coordinator, site, sort, django_assert_max_num_queries):
    for n in range(60):
        patient = PatientFactory(study_id=f"ICS-{n:04d}", site=site, ics_imported=float(n))
        IdentityFactory(patient=patient)
        ContactFactory(patient=patient)
    client = client_for(coordinator)

    with django_assert_max_num_queries(9):
        response = client.get("/patients/", {"sort": sort, "q": "a"})

    assert response.status_code == 200
