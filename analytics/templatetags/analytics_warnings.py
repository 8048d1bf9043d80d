"""Template filters for the safeguards (analytics.warnings) on the result page."""

from django import template

from analytics import warnings as safeguards

register = template.Library()


@register.filter
def warning_text(warning: dict) -> str:
    """A result warning in words: "Cox, univariable, ICS group, group_t2: no events in ICS tertile 1 (< 61)"."""
    return safeguards.describe(warning)


@register.filter
def forest_left_out(result: dict) -> list[str]:
    """The hazard ratios the forest plot leaves out, each with the reason."""
    from analytics import charts  # plotly: only where a result page is drawn

    return charts.forest_rows(result)[1]
