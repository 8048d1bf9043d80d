"""Template filters that put the data dictionary's words on the analytics pages."""

from django import template

from analytics import dictionary

register = template.Library()


@register.filter
def spec_summary(spec: dict) -> str:
    """A run's title from its spec: "POCE, 2191 days (6.0 years), ICS split at the cohort median; cohort: ..."."""
    return dictionary.spec_summary(spec or {})
