"""`python manage.py followup_wave ...`: follow-up waves from the command line, for scripting.
The command acts as the system (every site; "system" in the audit trail).

  create NAME [--no-contact-days N] [--site CODE] [--reminder-weeks W] [--json]
  links NAME OUT.csv                  study_id,response_code,url of every member
  letters NAME OUT.pdf [--reminders]  the letters (--reminders: reminder letters of those due one today)
  sent NAME [--on YYYY-MM-DD]         record the letters not sent yet as posted (default: today)
  close NAME                          close the wave: letters still out become "no response"
"""

import json
from argparse import ArgumentTypeError
from datetime import date
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from followup import services
from followup.letters import wave_letters_pdf, write_links
from followup.models import Wave
from registry.audit import audit_file_export
from registry.models import Patient, Site


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Follow-up waves: create one, write its links (CSV) and letters (PDF), record letters sent, close it."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,links,letters,sent,close}")
        create = actions.add_parser("create", help="a new wave to every living, not withdrawn patient who is due")
        create.add_argument("name")
        create.add_argument("--no-contact-days", type=int, default=None, help="only patients without contact for N days")
        create.add_argument("--site", default=None, help="only the patients of this site (code)")
        create.add_argument("--reminder-weeks", type=int, default=4, help="reminder after W weeks (default 4)")
        create.add_argument("--json", action="store_true", help='print only {"wave": NAME, "patients": N}')
        links = actions.add_parser("links", help="write study_id,response_code,url of every member (CSV)")
        links.add_argument("name")
        links.add_argument("path", type=Path, help="the file to write (replaced if it exists)")
        letters = actions.add_parser("letters", help="write the letters of the wave (one PDF)")
        letters.add_argument("name")
        letters.add_argument("path", type=Path, help="the file to write (replaced if it exists)")
        letters.add_argument("--reminders", action="store_true", help="reminder letters of the members due one today")
        sent = actions.add_parser("sent", help="record the letters not sent yet as posted")
        sent.add_argument("name")
        sent.add_argument("--on", type=_iso_date, default=None, help="the day they were posted (default: today)")
        close = actions.add_parser("close", help="close the wave; letters still out become 'no response'")
        close.add_argument("name")

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None

    def _create(self, *, name: str, no_contact_days: int | None, site: str | None, reminder_weeks: int, **options) -> None:
        wave = services.wave_create(
            user=None,
            name=name,
            patients=Patient.objects.all(),
            site=_site(site),
            no_contact_days=no_contact_days,
            reminder_weeks=reminder_weeks,
        )
        count = wave.members.count()
        if options["json"]:
            self.stdout.write(json.dumps({"wave": wave.name, "patients": count}))
        else:
            self.stdout.write(f"Created the wave “{wave.name}” with {count} patient(s).")

    def _links(self, *, name: str, path: Path, **options) -> None:
        wave = _wave(name)
        members = wave.members.select_related("patient").order_by("patient__study_id")
        try:
            with open(path, "w", encoding="utf-8", newline="") as out:
                count = write_links(out, members)
        except OSError as error:
            raise CommandError(f"cannot write {path}: {error.strerror or error}") from None
        audit_file_export(user=None, entity="followup_letters", file_name=path.name, changes={"patients": [None, count]})
        self.stdout.write(f"Wrote {path}: the links of {count} patient(s) in “{wave.name}”.")

    def _letters(self, *, name: str, path: Path, reminders: bool, **options) -> None:
        wave = _wave(name)
        if reminders:
            members = services.reminders_due(wave, today=timezone.localdate()).select_related("patient__identity")
        else:
            members = wave.members.select_related("patient", "patient__identity")
        members = members.select_related("wave__questionnaire")
        count = members.count()
        if not count:  # a wave has members; only reminders can be none
            raise CommandError(f"No member of the wave “{wave.name}” is due a reminder today: no letters written.")
        pdf = wave_letters_pdf(wave, members, reminder=reminders)
        try:
            path.write_bytes(pdf)
        except OSError as error:
            raise CommandError(f"cannot write {path}: {error.strerror or error}") from None
        audit_file_export(user=None, entity="followup_letters", file_name=path.name, changes={"patients": [None, count]})
        kind = "reminder letter(s)" if reminders else "letter(s)"
        self.stdout.write(f"Wrote {path}: {count} {kind} of “{wave.name}”.")

    def _sent(self, *, name: str, on: date | None, **options) -> None:
        wave = _wave(name)
        on = on or timezone.localdate()
        count = services.letters_sent(user=None, wave=wave, on=on)
        self.stdout.write(f"Recorded {count} letter(s) of “{wave.name}” as posted on {on.isoformat()}.")

    def _close(self, *, name: str, **options) -> None:
        wave = _wave(name)
        count = services.wave_close(user=None, wave=wave, on=timezone.localdate())
        self.stdout.write(f"Closed the wave “{wave.name}”: {count} letter(s) without an answer are now “no response”.")


def _wave(name: str) -> Wave:
    # Names are unique regardless of letter case (followup.services), so this finds at most one.
    wave = Wave.objects.select_related("questionnaire").filter(name__iexact=name.strip()).first()
    if wave is None:
        raise CommandError(f"No follow-up wave called “{name}”.")
    return wave


def _site(code: str | None) -> Site | None:
    if code is None:
        return None
    site = Site.objects.filter(code=code).first()
    if site is None:
        raise CommandError(f"No site with the code {code!r}.")
    return site
