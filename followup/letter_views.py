"""Downloads of a wave's letters (PDF, followup.letters) and personal links (CSV), for
coordinators and admins. A user gets the members whose patients are of their own sites: others
are left out of a wave's file, and another site's member letter is a 404."""

import io
from typing import TYPE_CHECKING

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from core.lazy import lazy_module
from core.roles import FOLLOW_UP_WAVES
from followup import services
from followup.models import Wave, WaveMember
from registry.access import patients_of_sites, user_site_ids
from registry.audit import audit_file_export
from registry.views import role_required

if TYPE_CHECKING:
    from followup import letters
else:  # ReportLab loads with the first letter, not with the URLconf (core/lazy.py)
    letters = lazy_module("followup.letters")


def _visible(request: HttpRequest, members: QuerySet[WaveMember]) -> QuerySet[WaveMember]:
    """The members whose patients the user may see, with what a letter needs, in study_id order."""
    return (
        members.filter(patient__in=patients_of_sites(user_site_ids(request.user)))
        .select_related("patient", "patient__identity", "wave__questionnaire")
        .order_by("patient__study_id")
    )


# Letters per PDF when a wave is downloaded in parts (?part=1, 2, ...); the wave page offers the
# parts when the wave has more patients than this.
LETTERS_PER_PART = 250


def _part(request: HttpRequest) -> int | None:
    try:
        part = int(request.GET.get("part", ""))
    except ValueError:
        return None
    return part if part >= 1 else None


def letter_parts(count: int) -> list[dict]:
    """[{"part", "first", "last"}] of a wave of `count` letters; empty when one PDF will do."""
    if count <= LETTERS_PER_PART:
        return []
    return [
        {"part": i + 1, "first": start + 1, "last": min(start + LETTERS_PER_PART, count)}
        for i, start in enumerate(range(0, count, LETTERS_PER_PART))
    ]


def _slug(wave: Wave) -> str:
    return slugify(wave.name) or f"wave-{wave.pk}"


def _download(request: HttpRequest, content: bytes | str, *, content_type: str, name: str, patients: int) -> HttpResponse:
    """The file as an attachment; handing it out is audited (names, addresses and links)."""
    audit_file_export(user=request.user, entity="followup_letters", file_name=name, changes={"patients": [None, patients]})
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@role_required(FOLLOW_UP_WAVES)
def wave_letters(request: HttpRequest, pk: int) -> HttpResponse:
    """All letters of the wave, or with ?reminders=1 the reminder letters of those due one today."""
    wave = get_object_or_404(Wave, pk=pk)
    reminders = request.GET.get("reminders") == "1"
    today = timezone.localdate()
    members = _visible(request, services.reminders_due(wave, today=today) if reminders else wave.members.all())
    part = _part(request)
    if part is not None:
        # A big wave comes in parts of LETTERS_PER_PART (about 40 ms a letter: a part in seconds).
        ids = list(members.values_list("pk", flat=True)[(part - 1) * LETTERS_PER_PART : part * LETTERS_PER_PART])
        members = members.filter(pk__in=ids)
    if not members.exists():
        messages.info(request, "No reminder is due today." if reminders else "No patient of your sites is in this wave.")
        return redirect("followup_wave_detail", pk=wave.pk)
    pdf = letters.wave_letters_pdf(wave, members, reminder=reminders, today=today)
    name = f"reminders-{_slug(wave)}-{today.isoformat()}.pdf" if reminders else f"letters-{_slug(wave)}.pdf"
    if part is not None:
        name = name.removesuffix(".pdf") + f"-part-{part}.pdf"
    return _download(request, pdf, content_type="application/pdf", name=name, patients=members.count())


@require_GET
@role_required(FOLLOW_UP_WAVES)
def member_letter(request: HttpRequest, pk: int) -> HttpResponse:
    """One patient's letter again (a lost letter); ?reminders=1 for the reminder's wording."""
    member = get_object_or_404(_visible(request, WaveMember.objects.all()), pk=pk)
    pdf = letters.member_letter_pdf(member, reminder=request.GET.get("reminders") == "1")
    name = f"letter-{_slug(member.wave)}-{slugify(member.patient.study_id) or member.pk}.pdf"
    return _download(request, pdf, content_type="application/pdf", name=name, patients=1)


@require_GET
@role_required(FOLLOW_UP_WAVES)
def wave_links(request: HttpRequest, pk: int) -> HttpResponse:
    """study_id,response_code,url of every member (of the user's sites), for a mail merge."""
    wave = get_object_or_404(Wave, pk=pk)
    out = io.StringIO()
    members = _visible(request, wave.members.all())
    letters.write_links(out, members)
    name = f"links-{_slug(wave)}.csv"
    return _download(request, out.getvalue(), content_type="text/csv; charset=utf-8", name=name, patients=members.count())
