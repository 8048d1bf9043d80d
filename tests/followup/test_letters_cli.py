"""Follow-up letters (PDF) and links (CSV): the letters, the followup_wave command and the
download views (roles, site scope)."""

import csv
import io
import json
import re
import runpy
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from reportlab import rl_config
from reportlab.lib.fonts import tt2ps

from core.roles import COORDINATOR
from followup import letter_views, letters, services
from followup.letters import member_letter_pdf, member_link, wave_letters_pdf
from followup.models import MemberStatus, Wave, WaveMember
from registry.models import AuditEntry, Patient, PatientIdentity
from tests.conftest import client_for
from tests.factories import PatientFactory, SiteFactory, UserFactory
from tests.followup.pdf_text import Pdf, pdf_text

pytestmark = pytest.mark.django_db

BASE_URL = "https://registry.example.org"
SETTINGS_FILE = Path(__file__).resolve().parents[2] / "config" / "settings.py"


@pytest.fixture(autouse=True)
def _letter_settings(monkeypatch, settings):
    """Invariant PDFs (no time stamp); pages stay compressed, as in production (pdf_text reads them)."""
    monkeypatch.setattr(rl_config, "invariant", 1)
    settings.FOLLOWUP_PUBLIC_BASE_URL = BASE_URL
    settings.FOLLOWUP_RETURN_ADDRESS = "IVUS-calcium registry\nPostbus 2040\n3000 CA Rotterdam"


@pytest.fixture
def wave(coordinator, site):
    # Created out of study_id order: the letters still come in study_id order.
    b = PatientFactory(study_id="P-B", site=site)
    PatientIdentity.objects.create(patient=b, name="Bea Bakker", postal_address="Dorpsstraat 2\n9999 ZZ Ergens")
    a = PatientFactory(study_id="P-A", site=site)
    PatientIdentity.objects.create(patient=a, name="Anne O'Neil & <Sons>", postal_address="Kerkstraat 1\n1234 AB Utrecht")
    PatientFactory(study_id="P-OTHER", site=SiteFactory(code="OTH"))  # no identity at all
    return services.wave_create(user=coordinator, name="2026 Autumn", patients=Patient.objects.all())


def _member(study_id: str) -> WaveMember:
    return WaveMember.objects.select_related("patient", "wave__questionnaire").get(patient__study_id=study_id)


def _text(pdf: bytes) -> str:
    """The text a letters PDF shows, a line per line (tests.followup.pdf_text)."""
    return pdf_text(pdf)


def _flat(text: str) -> str:
    """The text as one line (a paragraph wraps where it fits)."""
    return " ".join(text.split())


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


# The letters ----------------------------------------------------------------------------------


def test_one_letter_per_patient_in_study_id_order_each_with_its_code_and_link(wave):
    members = [_member("P-OTHER"), _member("P-B"), _member("P-A")]
    pdf = wave_letters_pdf(wave, members)
    text = _text(pdf)
    # Each letter starts on a page of its own ("Page 1" of that letter) and has more than one.
    assert text.count("\nPage 1\n") == 3
    assert _pages(pdf) >= 2 * 3
    first_seen = []
    for member in members:
        assert f"\nResponse code: {member.response_code}\n" in text  # on every page
        assert text.count(member.response_code) >= 4
        assert member_link(member) == f"{BASE_URL}/q/{member.token}/"
        assert member_link(member) in text
        first_seen.append((text.index(member.response_code), member.patient.study_id))
    assert [study_id for _, study_id in sorted(first_seen)] == ["P-A", "P-B", "P-OTHER"]
    assert "IVUS-calcium registry follow-up" in text and "Postbus 2040" in text
    assert "Health questionnaire" in text and "Have you had heart bypass surgery (CABG)?" in text


def test_names_and_addresses_are_printed_as_written_and_a_missing_address_is_flagged(wave):
    text = _text(wave_letters_pdf(wave))
    assert "\nAnne O'Neil & <Sons>\n" in text and "Dear Anne O'Neil & <Sons>," in text
    assert "&amp;" not in text and "&lt;" not in text
    assert "\nKerkstraat 1\n1234 AB Utrecht\n" in text
    other = _text(member_letter_pdf(_member("P-OTHER")))
    assert "Address not recorded" in other and "Name not recorded" in other and "Dear participant," in other


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("Łukasz Żółć", ["ulica Świętokrzyska 3", "00-001 Warszawa", "Οδός Ερμού 10, Αθήνα", "ул. Тверская, д. 7, Москва"]),
        ("Antonín Dvořák", ["Náměstí Míru 12", "120 00 Praha 2"]),
        ("Øystein Ærø", ["Storgata 7", "0155 Oslo"]),
        ("Ayşe Şahin", ["Atatürk Caddesi 5", "06420 Çankaya/Ankara"]),
        ("Γιώργος Παπαδόπουλος", ["Οδός Ερμού 10", "105 63 Αθήνα"]),
        ("Анна Иванова", ["ул. Тверская, д. 7", "Москва, 125009"]),
    ],
)
def test_names_and_addresses_print_as_written_in_latin_greek_and_cyrillic(wave, name, address):
    identity = _member("P-B").patient.identity
    identity.name, identity.postal_address = name, "\n".join(address)
    identity.save()
    text = _text(member_letter_pdf(_member("P-B")))
    assert "\n" + "\n".join([name, *address]) + "\n" in text  # the envelope window
    assert f"Dear {name}," in text


def test_a_name_typed_with_combining_accents_prints_as_one_letter_each(wave):
    identity = _member("P-B").patient.identity
    identity.name = "Antonin Dvor\u030ca\u0301k"  # "ř" and "á" as a letter and a combining accent
    identity.save()
    assert "\nAntonin Dvořák\n" in _text(member_letter_pdf(_member("P-B")))


def test_a_letter_the_font_lacks_prints_as_a_question_mark_never_as_a_black_square(wave):
    identity = _member("P-B").patient.identity
    identity.name, identity.postal_address = "Łukasz Wiśniewski-Müller", "Şehitler Sokağı 3\n李"
    identity.save()
    pdf = member_letter_pdf(_member("P-B"))
    assert b"ZapfDingbats" not in pdf
    assert "\nŁukasz Wiśniewski-Müller\nŞehitler Sokağı 3\n?\n" in _text(pdf)


def test_every_text_is_in_embedded_dejavu_sans_subsets_once_per_file(wave):
    identity = _member("P-B").patient.identity
    identity.name = "Łukasz Żółć"
    identity.save()
    one = Pdf(member_letter_pdf(_member("P-B")))
    three = Pdf(wave_letters_pdf(wave))
    for pdf in (one, three):
        fonts = pdf.fonts()
        # The body, the address, the response code, the headings and footers: no built-in font.
        assert all(re.fullmatch(rb"[A-Z]{6}\+DejaVuSans(-Bold|-Oblique)?", base) for base in fonts.values()), fonts
        assert {base.split(b"+")[1] for base in fonts.values()} == {b"DejaVuSans", b"DejaVuSans-Bold", b"DejaVuSans-Oblique"}
        assert pdf.embedded_font_files() == len(fonts)  # each subset once, however many letters
    assert len(three.fonts()) == len(one.fonts())


def test_bold_markup_in_a_paragraph_is_dejavu_sans_bold():
    letters.register_fonts()
    assert tt2ps(letters.FONT, 1, 0) == letters.FONT_BOLD and tt2ps(letters.FONT, 0, 1) == letters.FONT_ITALIC


def test_the_cover_letter_fits_its_page_with_a_four_line_return_address(wave, settings):
    # DejaVu Sans is wider than Helvetica: the cover letter must not spill a line onto a page of its own.
    settings.FOLLOWUP_RETURN_ADDRESS = "IVUS-calcium registry\nFollow-up office\nErasmus MC, Postbus 2040\n3000 CA Rotterdam"
    settings.FOLLOWUP_PUBLIC_BASE_URL = "https://ivus-calcium-registry.example-hospital.org"
    for reminder in (False, True):
        pages = Pdf(member_letter_pdf(_member("P-A"), reminder=reminder)).page_texts()
        assert "The IVUS-calcium registry follow-up team\n" in pages[0]
        assert pages[1].lstrip("\n").startswith("Health questionnaire\n")
        assert len(pages) == 4  # the cover letter and three pages of questions


def test_tick_boxes_are_drawn_not_typed(wave):
    # "☐" is not in Helvetica's encoding: ReportLab would print ZapfDingbats' black square instead.
    pdf = member_letter_pdf(_member("P-A"))
    assert b"ZapfDingbats" not in pdf
    assert "\u2610" not in _text(pdf)


def test_every_question_is_on_the_paper_questionnaire_and_the_death_question_asks_a_relative(wave):
    text = _text(member_letter_pdf(_member("P-A")))
    flat = _flat(text)  # a long question wraps
    for q in wave.questionnaire.definition["questions"]:
        assert q["text"] in flat, q["id"]
    assert "Only if you ticked \u201cThe patient has died (filled in by a relative or carer)\u201d at question 1." in flat
    assert "\nHospital (if any)\n" in text and "\nReason\n" in text and "\nTIA (mini-stroke)\n" in text


def test_a_reminder_says_the_answers_have_not_come_yet(wave):
    first = _text(member_letter_pdf(_member("P-A")))
    reminder = _text(member_letter_pdf(_member("P-A"), reminder=True))
    assert "We have not yet received your answers." in _flat(reminder)
    assert "We have not yet received your answers" not in _flat(first)


def test_the_public_address_loses_its_final_slash_and_must_be_http(monkeypatch):
    monkeypatch.setenv("FOLLOWUP_PUBLIC_BASE_URL", "https://registry.example.org/")
    monkeypatch.setenv("FOLLOWUP_RETURN_ADDRESS", "Registry\\nPostbus 1")
    loaded = runpy.run_path(str(SETTINGS_FILE))
    assert loaded["FOLLOWUP_PUBLIC_BASE_URL"] == "https://registry.example.org"
    assert loaded["FOLLOWUP_RETURN_ADDRESS"] == "Registry\nPostbus 1"
    monkeypatch.setenv("FOLLOWUP_PUBLIC_BASE_URL", "registry.example.org")
    with pytest.raises(ImproperlyConfigured, match="FOLLOWUP_PUBLIC_BASE_URL"):
        runpy.run_path(str(SETTINGS_FILE))


# The command ----------------------------------------------------------------------------------


def _command(*args) -> str:
    out = io.StringIO()
    call_command("followup_wave", *args, stdout=out)
    return out.getvalue()


def test_create_json_prints_only_the_wave_and_its_patient_count(site):
    PatientFactory(study_id="C-1", site=site)
    PatientFactory(study_id="C-2", site=SiteFactory(code="OTH"))
    out = _command("create", "spring", "--json")
    assert out == json.dumps({"wave": "spring", "patients": 2}) + "\n"
    wave = Wave.objects.get(name="spring")
    assert wave.created_by is None and wave.members.count() == 2


def test_create_takes_the_site_the_contact_rule_and_the_reminder_weeks(site):
    PatientFactory(study_id="C-1", site=site)
    PatientFactory(study_id="C-2", site=SiteFactory(code="OTH"))
    out = _command("create", "one site", "--site", "OTH", "--no-contact-days", "30", "--reminder-weeks", "6")
    assert out == "Created the wave “one site” with 1 patient(s).\n"
    wave = Wave.objects.get(name="one site")
    assert (wave.site.code, wave.no_contact_days, wave.reminder_weeks) == ("OTH", 30, 6)
    assert [m.patient.study_id for m in wave.members.all()] == ["C-2"]


def test_create_refuses_an_unknown_site_a_taken_name_and_a_wave_without_patients(site):
    PatientFactory(study_id="C-1", site=site)
    with pytest.raises(CommandError, match="No site with the code 'NOPE'"):
        _command("create", "x", "--site", "NOPE")
    _command("create", "autumn")
    with pytest.raises(CommandError, match="There is already a wave called “Autumn”"):
        _command("create", "Autumn")
    with pytest.raises(CommandError, match="No patient is due"):
        _command("create", "empty")  # C-1 waits on "autumn"
    assert Wave.objects.count() == 1


@pytest.mark.parametrize(
    "args", [("links", "nope", "x.csv"), ("letters", "nope", "x.pdf"), ("sent", "nope"), ("close", "nope")]
)
def test_an_unknown_wave_is_an_error(db, args):
    with pytest.raises(CommandError, match="No follow-up wave called “nope”"):
        _command(*args)


def test_links_lists_every_member_with_code_and_url(wave, tmp_path):
    path = tmp_path / "links.csv"
    out = _command("links", "2026 autumn", str(path))
    assert "links of 3 patient(s)" in out
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["study_id", "response_code", "url"]
    expected = [
        [m.patient.study_id, m.response_code, f"{BASE_URL}/q/{m.token}/"] for m in map(_member, ["P-A", "P-B", "P-OTHER"])
    ]
    assert rows[1:] == expected


def test_letters_writes_the_pdf_of_the_wave(wave, tmp_path):
    path = tmp_path / "letters.pdf"
    out = _command("letters", "2026 Autumn", str(path))
    assert out == f"Wrote {path}: 3 letter(s) of “2026 Autumn”.\n"
    text = _text(path.read_bytes())
    assert all(_member(s).response_code in text for s in ("P-A", "P-B", "P-OTHER"))


def test_letters_reminders_only_for_those_due_one_today(coordinator, site, tmp_path):
    PatientFactory(study_id="R-1", site=site)
    PatientFactory(study_id="R-2", site=site)
    today = timezone.localdate()
    wave = services.wave_create(user=coordinator, name="w", patients=Patient.objects.all(), today=today - timedelta(days=40))
    path = tmp_path / "reminders.pdf"
    with pytest.raises(CommandError, match="No member of the wave “w” is due a reminder today"):
        _command("letters", "w", str(path), "--reminders")
    services.letters_sent(
        user=coordinator, wave=wave, on=today - timedelta(weeks=5), members=wave.members.filter(patient__study_id="R-1")
    )
    _command("letters", "w", str(path), "--reminders")
    text = _text(path.read_bytes())
    assert _member("R-1").response_code in text and _member("R-2").response_code not in text
    assert "We have not yet received your answers" in _flat(text)


def test_sent_and_close_record_the_steps(wave):
    day = timezone.localdate() - timedelta(days=2)
    assert _command("sent", "2026 autumn", "--on", day.isoformat()) == (
        f"Recorded 3 letter(s) of “2026 Autumn” as posted on {day.isoformat()}.\n"
    )
    assert set(WaveMember.objects.values_list("status", "sent_on")) == {(MemberStatus.SENT, day)}
    with pytest.raises(CommandError, match="not a date"):
        _command("sent", "2026 autumn", "--on", "yesterday")
    assert "3 letter(s) without an answer" in _command("close", "2026 autumn")
    wave.refresh_from_db()
    assert wave.closed_on == timezone.localdate()
    with pytest.raises(CommandError, match="was closed on"):
        _command("close", "2026 autumn")


# The downloads --------------------------------------------------------------------------------


def _urls(wave) -> dict[str, str]:
    return {
        "letters": reverse("followup_wave_letters", kwargs={"pk": wave.pk}),
        "links": reverse("followup_wave_links", kwargs={"pk": wave.pk}),
        "member": reverse("followup_member_letter", kwargs={"pk": _member("P-A").pk}),
    }


@pytest.mark.parametrize("download", ["letters", "links", "member"])
@pytest.mark.parametrize(
    ("persona", "expected"),
    [("coordinator", 200), ("admin", 200), ("clinician", 403), ("investigator", 403), ("outsider", 403)],
)
def test_only_coordinators_and_admins_download_letters_and_links(personas, wave, download, persona, expected):
    response = client_for(personas[persona]).get(_urls(wave)[download])
    assert response.status_code == expected


@pytest.mark.parametrize("download", ["letters", "links", "member"])
def test_anonymous_users_are_sent_to_sign_in(wave, download):
    response = client_for(None).get(_urls(wave)[download])
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_downloads_are_attachments_named_after_the_wave(coordinator, wave):
    client, urls = client_for(coordinator), _urls(wave)
    letters = client.get(urls["letters"])
    assert letters["Content-Type"] == "application/pdf"
    assert letters["Content-Disposition"] == 'attachment; filename="letters-2026-autumn.pdf"'
    assert _text(letters.content).count("\nPage 1\n") == 3
    links = client.get(urls["links"])
    assert links["Content-Disposition"] == 'attachment; filename="links-2026-autumn.csv"'
    assert links.content.decode().splitlines()[1] == f"P-A,{_member('P-A').response_code},{member_link(_member('P-A'))}"
    member = client.get(urls["member"])
    assert member["Content-Disposition"] == 'attachment; filename="letter-2026-autumn-p-a.pdf"'
    assert _text(member.content).count("\nPage 1\n") == 1
    # Each file handed out is in the audit trail: who, which file, how many patients.
    exports = AuditEntry.objects.filter(action="export", entity="followup_letters").order_by("id")
    assert [(e.username, e.object_id, e.changes) for e in exports] == [
        ("coordinator", "letters-2026-autumn.pdf", {"patients": [None, 3]}),
        ("coordinator", "links-2026-autumn.csv", {"patients": [None, 3]}),
        ("coordinator", "letter-2026-autumn-p-a.pdf", {"patients": [None, 1]}),
    ]


def test_a_user_gets_only_the_members_of_their_own_sites(wave, site):
    user = UserFactory(username="site-coordinator", roles=[COORDINATOR], sites=[site])
    client, other = client_for(user), _member("P-OTHER")
    letters = _text(client.get(_urls(wave)["letters"]).content)
    assert _member("P-A").response_code in letters and other.response_code not in letters
    links = client.get(_urls(wave)["links"]).content.decode()
    assert len(links.splitlines()) == 3 and other.response_code not in links
    url = reverse("followup_member_letter", kwargs={"pk": other.pk})
    assert client.get(url).status_code == 404


def test_reminder_letters_when_none_is_due_go_back_to_the_wave(coordinator, wave):
    response = client_for(coordinator).get(_urls(wave)["letters"] + "?reminders=1")
    assert response.status_code == 302
    assert response["Location"] == reverse("followup_wave_detail", kwargs={"pk": wave.pk})


def test_a_big_wave_comes_in_parts_in_study_id_order(coordinator, wave, monkeypatch):
    monkeypatch.setattr(letter_views, "LETTERS_PER_PART", 2)
    client = client_for(coordinator)
    page = client.get(reverse("followup_wave_detail", kwargs={"pk": wave.pk})).content.decode()
    assert '?part=1">1–2</a>' in page and '?part=2">3–3</a>' in page
    first = client.get(_urls(wave)["letters"] + "?part=1")
    second = client.get(_urls(wave)["letters"] + "?part=2")
    assert first["Content-Disposition"] == 'attachment; filename="letters-2026-autumn-part-1.pdf"'
    codes = [_member(s).response_code for s in ("P-A", "P-B", "P-OTHER")]
    assert [c in _text(first.content) for c in codes] == [True, True, False]
    assert [c in _text(second.content) for c in codes] == [False, False, True]
    beyond = client.get(_urls(wave)["letters"] + "?part=3")
    assert beyond.status_code == 302
