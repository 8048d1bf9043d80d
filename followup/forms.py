"""Forms of the follow-up pages. `QuestionnaireForm` is built from a questionnaire definition
(followup.questionnaire): the patient's online form and the coordinators' paper entry are the
same questions; paper entry also takes the date the letter came back, and lets a question stay
unanswered (a patient may leave one blank on paper, and a coordinator types what is there)."""

from datetime import date

from django import forms
from django.utils import timezone

from followup import questionnaire as qn
from followup.models import MemberStatus, RequestStatus
from registry.forms import DateInput
from registry.models import Site

_YES_NO = [("yes", "Yes"), ("no", "No")]
_ORDINALS = ("First", "Second", "Third", "Fourth")
_MONTH_CHOICES = [("", "—")] + [(str(i), name) for i, name in enumerate(qn.MONTHS, start=1)]


class QuestionnaireForm(forms.Form):
    """The questions of `definition`. `paper=True`: answers may be left blank, and the return
    date is asked. `answers()` gives the stored form of the cleaned data."""

    def __init__(self, *args, definition: dict, paper: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.definition, self.paper = definition, paper
        self.earliest_year, self.this_year = 1990, timezone.localdate().year
        if paper:
            self.fields["returned_on"] = forms.DateField(
                label="Date the questionnaire came back",
                widget=DateInput(attrs={"autofocus": True}),
                initial=timezone.localdate,
                help_text="The postmark or the day it arrived.",
            )
        for q in qn.questions(definition):
            self._add_question(q)

    def _add_question(self, q: dict) -> None:
        qid = q["id"]
        if q["kind"] == "choice":
            choices = [(code, label) for code, label in q["options"]]
            self.fields[qid] = forms.ChoiceField(
                label=q["text"],
                choices=choices,
                widget=forms.RadioSelect,
                required=q.get("required", False) and not self.paper,
            )
        elif q["kind"] == "text":
            self.fields[qid] = forms.CharField(
                label=q["text"], required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
            )
        elif q["kind"] == "events":
            required = not self.paper and not q.get("only_if")
            self.fields[qid] = forms.ChoiceField(
                label=q["text"], choices=_YES_NO, widget=forms.RadioSelect, required=required
            )
            for i in range(q.get("max_items", 1)):
                prefix = f"{qid}_{i}_"
                if "which" in q.get("item_fields", []):
                    self.fields[prefix + "which"] = forms.ChoiceField(
                        label="Which", choices=[("", "—"), *[(c, lbl) for c, lbl in q["which"]]], required=False
                    )
                self.fields[prefix + "year"] = forms.IntegerField(
                    label="Year",
                    required=False,
                    min_value=self.earliest_year,
                    max_value=self.this_year,
                    widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
                )
                self.fields[prefix + "month"] = forms.TypedChoiceField(
                    label="Month (if you know)", choices=_MONTH_CHOICES, coerce=int, empty_value=None, required=False
                )
                self.fields[prefix + "day"] = forms.IntegerField(
                    label="Day (if you know)",
                    required=False,
                    min_value=1,
                    max_value=31,
                    widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
                )
                self.fields[prefix + "hospital"] = forms.CharField(label="Hospital", required=False, max_length=200)
                if "reason" in q.get("item_fields", []):
                    self.fields[prefix + "reason"] = forms.CharField(label="Reason", required=False, max_length=300)
        else:  # a definition error, not a user's
            raise ValueError(f"unknown question kind {q['kind']!r}")

    # Rendering: the questions in order, each with its occurrences' fields ---------------------

    def blocks(self) -> list[dict]:
        """[{"question", "field", "items": [{"title", "fields"}]}] for the template."""
        found = []
        for q in qn.questions(self.definition):
            items = []
            if q["kind"] == "events":
                for i in range(q.get("max_items", 1)):
                    names = [n for n in self.fields if n.startswith(f"{q['id']}_{i}_")]
                    title = "When" if q.get("max_items", 1) == 1 else f"{_ORDINALS[i]} time"
                    items.append({"title": title, "fields": [self[n] for n in names], "index": i})
            found.append({"question": q, "field": self[q["id"]], "items": items})
        return found

    # Validation ------------------------------------------------------------------------------

    def clean(self):
        data = super().clean()
        for q in qn.questions(self.definition):
            if q["kind"] == "events":
                self._clean_events(q, data)
        return data

    def _clean_events(self, q: dict, data: dict) -> None:
        qid, answer = q["id"], data.get(q["id"])
        filled = [i for i in range(q.get("max_items", 1)) if self._clean_item(f"{qid}_{i}_", data)]
        if answer == "no" and filled:
            self.add_error(qid, "You answered “No” but gave details below: choose “Yes”, or clear the details.")
        elif answer == "yes" and not filled and not self._errors_under(qid):
            self.add_error(f"{qid}_0_year", "You answered “Yes”: when was it? The year is enough.")
        only_if = q.get("only_if")
        if only_if and answer == "yes" and data.get(only_if[0]) != only_if[1]:
            self.add_error(qid, "Answer this only if the patient has died.")
        if only_if and data.get(only_if[0]) == only_if[1] and answer != "yes" and not self.paper:
            self.add_error(qid, "Please tell us when the patient died (the year is enough).")

    def _clean_item(self, prefix: str, data: dict) -> bool:
        """Check one occurrence's fields; True when it is filled in and valid."""
        values = {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}
        if not any(v not in (None, "") for v in values.values()):
            return False
        if values.get("year") is None:
            self.add_error(prefix + "year", "Give at least the year.")
            return False
        try:
            when = qn.ApproximateDate(values["year"], values.get("month"), values.get("day"))
        except ValueError:
            field = prefix + ("month" if values.get("month") is None else "day")
            self.add_error(field, "This date does not exist." if values.get("month") else "A day needs a month.")
            return False
        if when.first_day() > timezone.localdate():
            self.add_error(prefix + "year", "This date is in the future.")
            return False
        return True

    def _errors_under(self, qid: str) -> bool:
        return any(name.startswith(f"{qid}_") for name in self.errors)

    def answers(self) -> dict:
        """The stored form: {question id: value}; an "events" question {"answer", "items": [...]}."""
        data, stored = self.cleaned_data, {}
        for q in qn.questions(self.definition):
            qid = q["id"]
            if q["kind"] != "events":
                stored[qid] = data.get(qid) or ""
                continue
            items = []
            for i in range(q.get("max_items", 1)):
                prefix = f"{qid}_{i}_"
                if data.get(prefix + "year") is None:
                    continue
                when = qn.ApproximateDate(data[prefix + "year"], data.get(prefix + "month"), data.get(prefix + "day"))
                item = {"when": when.to_json(), "hospital": (data.get(prefix + "hospital") or "").strip()}
                for extra in ("reason", "which"):
                    if prefix + extra in data:
                        item[extra] = (data.get(prefix + extra) or "").strip()
                items.append(item)
            stored[qid] = {"answer": data.get(qid) or "", "items": items if data.get(qid) == "yes" else []}
        return stored

    @property
    def returned_on(self) -> date | None:
        return self.cleaned_data.get("returned_on")


class ResponseCodeForm(forms.Form):
    code = forms.CharField(
        label="Response code",
        max_length=20,
        help_text="As printed on the questionnaire, e.g. K7M4-Q9TX (upper or lower case, with or without the dash).",
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )


class WaveCreateForm(forms.Form):
    name = forms.CharField(label="Name of the wave", max_length=80, help_text="For example “2026 autumn”.")
    site: forms.ModelChoiceField = forms.ModelChoiceField(
        label="Only one site", queryset=Site.objects.none(), required=False, empty_label="All my sites"
    )
    no_contact_days = forms.IntegerField(
        label="Only patients without contact for at least (days)",
        required=False,
        min_value=0,
        max_value=36500,
        help_text="Leave empty to include every living, not withdrawn patient.",
    )
    reminder_weeks = forms.IntegerField(label="Send a reminder after (weeks)", initial=4, min_value=1, max_value=52)
    answer_days = forms.IntegerField(
        label="Online links stay valid for (days after the last letter)", initial=90, min_value=7, max_value=365
    )

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        site_field = self.fields["site"]
        assert isinstance(site_field, forms.ModelChoiceField)
        site_field.queryset = sites


class LettersSentForm(forms.Form):
    on = forms.DateField(label="Posted on", widget=DateInput, initial=timezone.localdate)


class MemberMarkForm(forms.Form):
    status = forms.ChoiceField(
        label="Mark as",
        choices=[
            (MemberStatus.RETURN_TO_SENDER.value, MemberStatus.RETURN_TO_SENDER.label),
            (MemberStatus.NO_RESPONSE.value, MemberStatus.NO_RESPONSE.label),
        ],
    )
    note = forms.CharField(label="Note", required=False, max_length=300)


class RequestUpdateForm(forms.Form):
    status = forms.ChoiceField(
        label="New status",
        choices=[(s.value, s.label) for s in (RequestStatus.REMINDED, RequestStatus.RECEIVED, RequestStatus.NOT_AVAILABLE)],
    )
    on = forms.DateField(label="On", widget=DateInput, initial=timezone.localdate)
    document_reference = forms.CharField(
        label="Document received",
        required=False,
        max_length=200,
        help_text="Required when received, e.g. “discharge letter 14-03-2025”.",
    )
    note = forms.CharField(
        label="Note", required=False, max_length=300, help_text="Why the document is not available, if so."
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean(self):
        data = super().clean()
        if data.get("status") == RequestStatus.RECEIVED and not (data.get("document_reference") or "").strip():
            self.add_error("document_reference", "Name the document received.")
        return data
