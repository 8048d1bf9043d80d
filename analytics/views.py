"""The analytics pages: cohort builder, stored runs, a run's results (with charts and downloads)
and its printable report. Thin: check the role (ANALYSIS_DATA), parse the form, call one service
or selector, render. Login is required by Django's LoginRequiredMiddleware (settings)."""

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analytics import dictionary
from analytics.forms import FILTER_FIELDS, CohortForm, FilterRowFormSet, filters_from, initial_from, spec_from
from analytics.variables import SpecError
from core.lazy import lazy_module
from core.roles import ANALYSIS_DATA, require_role
from registry import follow_up

if TYPE_CHECKING:
    from analytics import charts, exports, figure_pdf, selectors, services
else:  # pandas, scipy and plotly load with the first request, not with the URLconf (core/lazy.py)
    charts, exports = lazy_module("analytics.charts"), lazy_module("analytics.exports")
    figure_pdf = lazy_module("analytics.figure_pdf")
    selectors, services = lazy_module("analytics.selectors"), lazy_module("analytics.services")


def analysis_role_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        require_role(request.user, ANALYSIS_DATA)
        return view(request, *args, **kwargs)

    return wrapper


# Cohort builder ---------------------------------------------------------------------------------


def _builder_forms(request: HttpRequest, data=None, initial=None, rows=None):
    fields = selectors.cohort_fields(user=request.user)
    sites = next(f["levels"] for f in fields if f["name"] == "site")
    kinds = {f["name"]: f["kind"] for f in fields}
    form = CohortForm(data, initial=initial, sites=sites)
    formset = FilterRowFormSet(data, initial=rows, prefix="filter", form_kwargs={"field_kinds": kinds})
    return form, formset, fields


def _cleaned_filters(form, formset, *, filters_only: bool = False) -> list[dict] | None:
    """The spec filters, or None when the form has errors (only in the filter fields, if `filters_only`)."""
    valid = form.is_valid()
    if filters_only:
        valid = not set(form.errors) & set(FILTER_FIELDS)
    if not (valid and formset.is_valid()):
        return None
    return filters_from(form.cleaned_data, formset.cleaned_data)


@require_http_methods(["GET", "POST"])
@analysis_role_required
def builder(request: HttpRequest) -> HttpResponse:
    """GET: the builder (?cohort=<id> loads a saved cohort). POST action=run: run and show the run;
    action=save: save the filters as a named cohort."""
    if request.method == "GET":
        initial: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        cohort_id = request.GET.get("cohort", "")
        # ASCII digits only ("²".isdigit() is true, int("²") fails), and few enough for int().
        if cohort_id.isascii() and cohort_id.isdigit() and len(cohort_id) <= 18:
            cohort = selectors.saved_cohort_get(user=request.user, cohort_id=int(cohort_id))
            initial, rows = initial_from(cohort.filters)
            initial["cohort_name"] = cohort.name
        form, formset, fields = _builder_forms(request, initial=initial, rows=rows)
        return _render_builder(request, form, formset, fields)
    form, formset, fields = _builder_forms(request, data=request.POST)
    filters = _cleaned_filters(form, formset)
    if filters is None:
        return _render_builder(request, form, formset, fields, status=400)
    try:
        if request.POST.get("action") == "save":
            return _save_cohort(request, form, filters)
        run = services.analysis_run_start(spec=spec_from(form.cleaned_data, filters), user=request.user)
    except SpecError as exc:
        form.add_error(None, str(exc))
        return _render_builder(request, form, formset, fields, status=400)
    return redirect("analytics_run_detail", run.pk)


def _save_cohort(request: HttpRequest, form: CohortForm, filters: list[dict]) -> HttpResponse:
    name = (form.cleaned_data.get("cohort_name") or "").strip()
    if not name:
        raise SpecError("Give the cohort a name to save it.")
    existing = selectors.saved_cohort_list(user=request.user).filter(name=name).first()
    if existing is not None:
        cohort = services.saved_cohort_update(cohort=existing, filters=filters)
    else:
        cohort = services.saved_cohort_create(user=request.user, name=name, filters=filters)
    messages.success(request, f"Cohort {cohort.name!r} saved ({len(filters)} filters).")
    return redirect(f"{reverse('analytics_builder')}?cohort={cohort.pk}")


def _render_builder(request, form, formset, fields, *, status: int = 200) -> HttpResponse:
    context = {"form": form, "formset": formset, "fields": fields, "cohorts": selectors.saved_cohort_list(user=request.user)}
    return render(request, "analytics/builder.html", context, status=status)


@require_GET
@analysis_role_required
def builder_count(request: HttpRequest) -> JsonResponse:
    """The live count for the builder's current filters (the same form, sent as a query string)."""
    form, formset, _ = _builder_forms(request, data=request.GET)
    filters = _cleaned_filters(form, formset, filters_only=True)
    if filters is None:
        errors = [
            f"{name}: {e}"
            for errors in [form.errors, *formset.errors]
            for name, msgs in errors.items()
            for e in msgs
            if name in FILTER_FIELDS or errors is not form.errors
        ]
        return JsonResponse({"error": "; ".join(errors) or "check the filters"}, status=400)
    horizon = form.cleaned_data.get("horizon_days") or follow_up.HORIZON_DAYS
    try:
        counts = selectors.cohort_count(
            user=request.user,
            filters=filters,
            horizon_days=horizon,
            count_pending=bool(form.cleaned_data.get("count_pending")),
        )
    except SpecError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({**counts, "filters": filters})


@require_POST
@analysis_role_required
def cohort_delete(request: HttpRequest, pk: int) -> HttpResponse:
    cohort = selectors.saved_cohort_get(user=request.user, cohort_id=pk)
    services.saved_cohort_delete(cohort=cohort)
    messages.success(request, f"Cohort {cohort.name!r} deleted.")
    return redirect("analytics_builder")


# Runs ---------------------------------------------------------------------------------------------


@require_GET
@analysis_role_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = selectors.analysis_run_list(user=request.user)[:200]
    return render(request, "analytics/run_list.html", {"runs": runs})


def _results_context(run) -> dict:
    """Tables and figures of a finished run (empty while it runs or when it failed)."""
    if run.result is None:
        return {}
    result = dictionary.label_result(run.result)
    tables = exports.result_tables(result)
    figures = {
        "km_cumulative": charts.km_figure(result, cumulative=True, filename=f"analysis-{run.pk}-km"),
        "km_survival": charts.km_figure(result, cumulative=False, filename=f"analysis-{run.pk}-survival"),
        "hazard_ratios": charts.hazard_ratio_figure(result, filename=f"analysis-{run.pk}-hr"),
    }
    if "competing_risks" in result:
        figures["cif"] = charts.cif_figure(result, filename=f"analysis-{run.pk}-cif")
    panels = []
    for i, panel in enumerate(result.get("subgroups") or []):
        item = {"label": panel["label"], "error": panel.get("error")}
        if "result" in panel:
            figures[f"subgroup_{i}"] = charts.km_figure(
                panel["result"], title=panel["label"], filename=f"analysis-{run.pk}-subgroup-{i}"
            )
            item |= {"figure_id": f"subgroup_{i}", "at_risk": _shown(exports.at_risk_table(panel["result"]))}
        panels.append(item)
    shown = {name: _shown(t, csv=name in tables) for name, t in exports.publication_tables(result).items()}
    from analytics import charts_extra  # the spline, RMST and subgroup forest (issue 13), loaded with the page

    extra_analyses = charts_extra.page_parts(result, filename_prefix=f"analysis-{run.pk}")
    figures.update(extra_analyses["figures"])
    return {
        "result": result,
        "labels": _labels(result),
        "figure_sizes": charts.JOURNAL_SIZES,
        "tables": shown,
        "figures": figures,
        "extra_analyses": extra_analyses,
        "subgroups": panels,
        "downloads": [(t.name, t.title) for t in tables.values()],
    }


def _labels(result: dict) -> dict:
    """Words the result page needs beyond its tables (the dictionary's, never a variable name)."""
    grouping = result["spec"]["grouping"]
    return {
        "grouping": "an ICS" if grouping["variable"] == "ics" else dictionary.grouping_text(grouping).lower(),
        "cutoffs": ", ".join(dictionary.cutoff_text(c) for c in dictionary.grouping_context(result)["cutoffs"]),
        "gray_p": exports.p_text(result["competing_risks"]["gray"]["p"]) if "competing_risks" in result else "",
    }


def _shown(table: "exports.Table", *, csv: bool = True) -> dict:
    """A table for the page; `csv`: its data table can be downloaded as CSV under the same name."""
    return {
        "csv": csv,
        "name": table.name,
        "title": table.title,
        "columns": table.columns,
        "rows": exports.display_rows(table),
        "footnotes": table.footnotes,
        "indented": table.indented,
    }


def _labelled_changes(run) -> dict | None:
    """The comparison with the previous run, each key number with a `label` in the dictionary's words."""
    changes = selectors.analysis_run_changes(run=run)
    if changes is not None and run.result is not None:
        for number in changes["numbers"]:
            number["label"] = dictionary.key_number_label(number["name"], run.result)
    return changes


@require_GET
@analysis_role_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.analysis_run_get(user=request.user, run_id=pk)
    context = {"run": run, "changes": _labelled_changes(run), **_results_context(run)}
    return render(request, "analytics/run_detail.html", context)


@require_GET
@analysis_role_required
def run_report(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.analysis_run_get(user=request.user, run_id=pk)
    return render(request, "analytics/report.html", {"run": run, **_results_context(run)})


@require_POST
@analysis_role_required
def run_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.analysis_run_get(user=request.user, run_id=pk)
    new = services.analysis_run_rerun(run=run, user=request.user)
    messages.success(request, f"Analysis {run.pk} re-run as analysis {new.pk}.")
    return redirect("analytics_run_detail", new.pk)


def _finished(request: HttpRequest, pk: int):
    run = selectors.analysis_run_get(user=request.user, run_id=pk)
    if run.result is None:
        return run, HttpResponse("This analysis has no result (yet).", status=409, content_type="text/plain")
    return run, None


@require_GET
@analysis_role_required
def run_export_csv(request: HttpRequest, pk: int, table: str) -> HttpResponse:
    run, problem = _finished(request, pk)
    if problem:
        return problem
    tables = exports.result_tables(run.result)
    if table not in tables:
        return HttpResponse(f"No table {table!r}.", status=404, content_type="text/plain")
    response = HttpResponse(exports.table_csv(tables[table]), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="analysis-{run.pk}-{table}.csv"'
    return response


@require_GET
@analysis_role_required
def run_export_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    run, problem = _finished(request, pk)
    if problem:
        return problem
    content = exports.tables_xlsx(exports.result_tables(run.result), about=_about(run))
    return _xlsx_response(content, f"analysis-{run.pk}.xlsx")


@require_GET
@analysis_role_required
def run_export_manuscript(request: HttpRequest, pk: int) -> HttpResponse:
    """The publication tables as one formatted workbook ("Download for manuscript")."""
    run, problem = _finished(request, pk)
    if problem:
        return problem
    content = exports.manuscript_xlsx(exports.publication_tables(run.result), about=_about(run))
    return _xlsx_response(content, f"analysis-{run.pk}-manuscript-tables.xlsx")


def _about(run) -> list[tuple[str, str]]:
    return exports.about_rows(
        run.spec,
        run_id=run.pk,
        created=f"{run.created_at:%Y-%m-%d %H:%M} by {run.created_by.username if run.created_by else 'system'}",
        data_hash=run.data_hash,
        versions=run.versions or {},
    )


def _xlsx_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@analysis_role_required
def run_figure_pdf(request: HttpRequest, pk: int, figure: str) -> HttpResponse:
    """A survival or cumulative-incidence figure with its numbers at risk, the spline or the subgroup
    forest, as a vector PDF at a journal column's width (?size=single, 85 mm, the default; or double,
    175 mm; the forest only at the sizes it offers)."""
    run, problem = _finished(request, pk)
    if problem:
        return problem
    sizes = {s.key: s for s in charts.JOURNAL_SIZES}
    size = sizes.get(request.GET.get("size", "single"))
    content = None if size is None else _figure_pdf(run, figure, size)
    if size is None or content is None:
        return HttpResponse("No such figure or size.", status=404, content_type="text/plain")
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="analysis-{run.pk}-{figure}-{size.key}.pdf"'
    return response


def _figure_pdf(run, figure: str, size: "charts.FigureSize") -> bytes | None:
    """The PDF of the run's figure `figure` at `size`, or None when the run has no such figure there."""
    if figure in ("spline", "subgroup_forest"):
        from analytics import charts_extra  # the spline and the subgroup forest (issue 13)

        drawn = charts_extra.result_figures(dictionary.label_result(run.result), filename_prefix="").get(figure)
        if drawn is None or size.key not in drawn["exports"]:
            return None
        return (figure_pdf.spline_pdf if figure == "spline" else figure_pdf.forest_pdf)(drawn, size)
    curves = charts.named_curves(run.result, figure)
    return None if curves is None else figure_pdf.curve_pdf(curves, size)
