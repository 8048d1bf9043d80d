"""Survival statistics over plain numpy arrays, written to reproduce R exactly.

Pure code: no Django. Functions take `duration` (days) and `event` arrays and return plain
numpy values or small dataclasses. Each one names the R function it reproduces; the tests in
tests/analytics compare them with R's own output (tests/reference/make_reference.R) to 1e-6.

Vectorised over patients: Python loops run over distinct times or Newton iterations, never over
patients, so 100,000 patients take well under a second per model.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
from scipy import stats

Z_95 = float(stats.norm.ppf(0.975))  # R's qnorm(0.975)
TOLER_CHOL = float(np.finfo(float).eps) ** 0.75  # coxph.control's toler.chol


def _as_float(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=float)


def _distinct(
    duration: npt.ArrayLike, *indicators: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Distinct sorted times, the number at risk (duration >= t) and per-time sums of each indicator."""
    t = _as_float(duration)
    order = np.argsort(t, kind="stable")
    times, first, counts = np.unique(t[order], return_index=True, return_counts=True)
    n_risk = (len(t) - first).astype(float)
    sums = [np.add.reduceat(_as_float(ind)[order], first) if len(t) else np.zeros(0) for ind in indicators]
    return times, n_risk, counts.astype(float), sums


# --------------------------------------------------------------------------- Kaplan-Meier


@dataclass(frozen=True)
class KaplanMeier:
    time: np.ndarray  # every distinct time (events and censorings), as survfit reports them
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray  # standard error of the cumulative hazard (Greenwood): survfit's std.err
    ci_lower: np.ndarray  # NaN where R gives NA (survival 0)
    ci_upper: np.ndarray


def kaplan_meier(duration: npt.ArrayLike, event: npt.ArrayLike) -> KaplanMeier:
    """Kaplan-Meier estimate with a 95% CI, as R `survfit(Surv(duration, event) ~ 1)`.

    Parameters
    ----------
    duration : array of float, days from time zero
    event : array of bool; competing events must be passed as False (censored)

    Notes
    -----
    Greenwood variance of the cumulative hazard, sum d / (n (n - d)); the interval is computed on
    the log scale (survfit's default `conf.type = "log"`): S exp(+-1.96 se), the upper bound clipped
    at 1 and both NA (NaN) once S = 0, as in R.
    """
    event = np.asarray(event, dtype=bool)
    times, n_risk, counts, (d,) = _distinct(duration, event)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - d / n_risk)
        std_err = np.sqrt(np.cumsum(d / (n_risk * (n_risk - d))))
        log_s = np.log(np.where(survival > 0, survival, np.nan))
        lower = np.exp(log_s - Z_95 * std_err)
        upper = np.minimum(np.exp(log_s + Z_95 * std_err), 1.0)
    return KaplanMeier(times, n_risk, d, counts - d, survival, std_err, lower, upper)


def survival_at(km: KaplanMeier, times: npt.ArrayLike) -> np.ndarray:
    """The KM step function (right-continuous) evaluated at `times`; 1 before the first time."""
    idx = np.searchsorted(km.time, _as_float(times), side="right") - 1
    return np.where(idx >= 0, km.survival[np.maximum(idx, 0)], 1.0)


# --------------------------------------------------------------------------- log-rank


def _at_risk_by_group(duration: npt.ArrayLike, g: np.ndarray, k: int, times: np.ndarray) -> np.ndarray:
    """Number at risk (duration >= t) per group at each of `times`: shape (len(times), k)."""
    duration = _as_float(duration)
    out = np.empty((len(times), k))
    for j in range(k):
        tj = np.sort(duration[g == j])
        out[:, j] = len(tj) - np.searchsorted(tj, times, side="left")
    return out


def logrank_test(duration: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike) -> dict[str, Any]:
    """K-sample log-rank test, as R `survdiff(Surv(duration, event) ~ group)` (rho = 0).

    Returns
    -------
    dict with `statistic` (chi-square), `df`, `p`, `levels` and per level `observed`, `expected`.

    Notes
    -----
    Hypergeometric variance with ties, d (n - d) / (n - 1); as survdiff, groups with no expected
    events are dropped and the first remaining group is left out of the quadratic form.
    """
    event = np.asarray(event, dtype=bool)
    levels, g = np.unique(np.asarray(group), return_inverse=True)
    k = len(levels)
    times, n_risk, _, sums = _distinct(duration, event, *[(g == j) & event for j in range(k)])
    keep = sums[0] > 0
    times, n, d = times[keep], n_risk[keep], sums[0][keep]
    d_g = np.column_stack([s[keep] for s in sums[1:]])
    n_g = _at_risk_by_group(duration, g, k, times)
    observed = d_g.sum(axis=0)
    expected = (n_g * (d / n)[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(n > 1, d * (n - d) / (n * (n - 1)), 0.0)
    var = np.diag((f[:, None] * n_g).sum(axis=0)) - np.einsum("t,tj,tk->jk", f / n, n_g, n_g)
    use = np.flatnonzero(expected > 0)[1:]
    diff = (observed - expected)[use]
    statistic = float(diff @ np.linalg.solve(var[np.ix_(use, use)], diff)) if len(use) else float("nan")
    df = len(use)
    p = float(stats.chi2.sf(statistic, df)) if df else float("nan")
    return {"statistic": statistic, "df": df, "p": p, "levels": list(levels), "observed": observed, "expected": expected}


# --------------------------------------------------------------------------- competing risks


@dataclass(frozen=True)
class CumulativeIncidence:
    time: np.ndarray  # every distinct time in the group
    cif: np.ndarray  # cumulative incidence of the event of interest (Aalen-Johansen)
    n_risk: np.ndarray


def cumulative_incidence(duration: npt.ArrayLike, status: npt.ArrayLike, *, cause: int = 1) -> CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of `cause`, other non-zero codes competing.

    As cmprsk::cuminc's estimate (and survfit's multi-state `pstate`): deterministic with ties,
    CIF(t) = sum_{s <= t} S(s-) d_cause(s) / n(s), S the all-cause Kaplan-Meier.

    Parameters
    ----------
    duration : array of float, days
    status : array of int, 0 censored, `cause` the event of interest, any other value competing
    """
    status = np.asarray(status)
    times, n_risk, _, (d_cause, d_any) = _distinct(duration, status == cause, status != 0)
    s_after = np.cumprod(1.0 - d_any / n_risk)
    s_before = np.concatenate(([1.0], s_after[:-1]))
    return CumulativeIncidence(times, np.cumsum(s_before * d_cause / n_risk), n_risk)


def gray_test(duration: npt.ArrayLike, status: npt.ArrayLike, group: npt.ArrayLike, *, cause: int = 1) -> dict[str, Any]:
    """Gray's K-sample test for cumulative incidence (rho = 0), as cmprsk::cuminc's `Tests`.

    A vectorised transcription of cmprsk's Fortran `crst` (Gray 1988, Ann. Stat. 16:1141-1154)
    for one stratum: loops over groups, arrays over distinct times.

    Returns
    -------
    dict with `statistic`, `df` (groups - 1), `p`, `levels`.
    """
    status = np.asarray(status)
    levels, g = np.unique(np.asarray(group), return_inverse=True)
    ng = len(levels)
    times, _, _, sums = _distinct(
        duration,
        *[(g == j) & (status == cause) for j in range(ng)],
        *[(g == j) & (status != 0) & (status != cause) for j in range(ng)],
    )
    d1 = np.column_stack(sums[:ng])
    d2 = np.column_stack(sums[ng:])
    rs = _at_risk_by_group(duration, g, ng, times)
    # Per group all-cause KM (left/right continuous) and CIF (left continuous), as the Fortran.
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(rs > 0, (rs - d1 - d2) / rs, 1.0)
        skm = np.cumprod(step, axis=0)
        skmm = np.vstack([np.ones(ng), skm[:-1]])
        f1 = np.cumsum(np.where(rs > 0, skmm * d1 / rs, 0.0), axis=0)
        f1m = np.vstack([np.zeros(ng), f1[:-1]])
        t1 = np.where(rs > 0, rs / skmm, 0.0)
        tr = t1.sum(axis=1)
        tq = np.where(rs > 0, rs * (1 - f1m) / skmm, 0.0).sum(axis=1)
        nd1, nd2 = d1.sum(axis=1), d2.sum(axis=1)
        f = np.cumsum(np.where(nd1 + nd2 > 0, nd1 / tr, 0.0))
        fm = np.concatenate(([0.0], f[:-1]))
        # a(t) = diag(t1) - t1 t1' / tr; c accumulates a nd1 / (tr (1 - fm)).
        a = (
            np.einsum("tij,ti->tij", np.broadcast_to(np.eye(ng), (len(times), ng, ng)), t1)
            - np.einsum("ti,tj->tij", t1, t1) / tr[:, None, None]
        )
        a = np.where(np.isfinite(a), a, 0.0)
        c = np.cumsum(a * np.where(nd1 > 0, nd1 / (tr * (1 - fm)), 0.0)[:, None, None], axis=0)
        score = np.where(rs > 0, d1 - nd1[:, None] * rs * (1 - f1m) / (skmm * tq[:, None]), 0.0).sum(axis=0)
        # Variance pieces from failures of the cause of interest ...
        on1 = (nd1 > 0)[:, None] & (rs > 0)
        t4 = np.where(skm > 0, 1 - (1 - f)[:, None] / skm, 1.0)
        t5 = np.where(nd1[:, None] > 1, 1 - (nd1[:, None] - 1) / (tr[:, None] * skmm - 1), 1.0)
        t3 = np.where(on1, t5 * skmm * nd1[:, None] / (tr[:, None] * rs), 0.0)
        # ... and from competing failures.
        on2 = (d2 > 0) & (skm > 0)
        u4 = np.where(on2, (1 - f)[:, None] / skm, 0.0)
        u5 = np.where(d2 > 1, 1 - (d2 - 1) / (rs - 1), 1.0)
        u3 = np.where(on2, u5 * skmm**2 * d2 / rs**2, 0.0)
    t3, u3 = np.nan_to_num(t3), np.nan_to_num(u3)
    t4, u4 = np.nan_to_num(t4), np.nan_to_num(u4)
    v3 = (t4**2 * t3).sum(axis=0) + (u4**2 * u3).sum(axis=0)
    # b1[t, i, k] = a(i,k) - t4_k c(i,k); b2[t, i, k] = t4_k c(i,k) (competing term)
    b1 = a - t4[:, None, :] * c
    b2 = u4[:, None, :] * c
    v2 = np.einsum("tik,tk->ik", b1, t4 * t3) - np.einsum("tik,tk->ik", b2, u4 * u3)
    v = np.einsum("tik,tjk,tk->ij", b1, b1, t3) + np.einsum("tik,tjk,tk->ij", b2, b2, u3)
    cf = c[-1]
    v = v + np.einsum("ik,jk,k->ij", cf, cf, v3) + cf @ v2.T + v2 @ cf.T
    s, vs = score[: ng - 1], v[: ng - 1, : ng - 1]
    statistic = float(s @ np.linalg.solve(vs, s)) if ng > 1 else float("nan")
    return {"statistic": statistic, "df": ng - 1, "p": float(stats.chi2.sf(statistic, ng - 1)), "levels": list(levels)}


# --------------------------------------------------------------------------- Cox regression


@dataclass(frozen=True)
class CoxFit:
    terms: list[str]
    coef: npt.NDArray[np.float64]
    se: npt.NDArray[np.float64]
    var: np.ndarray
    loglik: tuple[float, float]  # (null model, fitted), as coxph's loglik
    iterations: int
    converged: bool
    n: int
    n_events: int
    linear_predictor: np.ndarray  # centred X beta, as coxph's linear.predictors
    zph_inputs: tuple[
        "_EfronData", tuple[np.ndarray, np.ndarray]
    ]  # for cox_zph: (_EfronData, the per-event (mean, var_rows) at coef)

    possibly_infinite: list[str]  # terms coxph would warn about ("coefficient may be infinite")
    singular: list[str] = field(default_factory=list)  # terms coxph gives NA ("X matrix deemed to be singular")
    infinite_unnamed: bool = False  # not converged and coxph's "one or more coefficients may be infinite"

    @property
    def hr(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.coef)

    @property
    def ci_lower(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.coef - Z_95 * self.se)

    @property
    def ci_upper(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.coef + Z_95 * self.se)

    @property
    def p(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # NA where the coefficient is NA
            p: np.ndarray = 2 * stats.norm.sf(np.abs(self.coef / self.se))
        return p

    def table(self) -> list[dict[str, Any]]:
        """One dict per term: term, coef, se, hr, ci_lower, ci_upper, p (Wald)."""
        cols = zip(self.terms, self.coef, self.se, self.hr, self.ci_lower, self.ci_upper, self.p, strict=True)
        keys = ("term", "coef", "se", "hr", "ci_lower", "ci_upper", "p")
        return [dict(zip(keys, (t, *map(float, rest)), strict=True)) for t, *rest in cols]


class _EfronData:
    """Sorted data and the tie structure, computed once per model."""

    def __init__(self, duration: np.ndarray, event: np.ndarray, X: np.ndarray) -> None:
        order = np.lexsort((~event, duration))  # by time; at tied times events last (irrelevant to sums)
        self.time, self.event, self.X = duration[order], event[order], X[order]
        self.order = order
        ev_idx = np.flatnonzero(self.event)
        ev_time = self.time[ev_idx]
        self.ev_idx = ev_idx
        uniq, self.ev_first, self.ev_count = np.unique(ev_time, return_index=True, return_counts=True)
        self.ev_group = np.repeat(np.arange(len(uniq)), self.ev_count)
        # first row at risk for each event time = first row with time >= t (strictly increasing:
        # each event time has its own rows)
        self.risk_first = np.searchsorted(self.time, uniq, side="left")
        self.frac = (np.arange(len(ev_idx)) - self.ev_first[self.ev_group]) / self.ev_count[self.ev_group]
        self.event_times = uniq
        self.upper = np.triu_indices(X.shape[1])  # x x' is symmetric: its upper triangle is enough

    def at_risk_sums(self, values: np.ndarray) -> np.ndarray:
        """Sum of `values` (rows in time order) over each event time's risk set (time >= t).

        The rows between two event times are summed first (reduceat), then those block sums are
        accumulated from the last: the risk sets are nested, so only as many partial sums as event
        times are kept, not one per patient (at 100,000 patients the per-patient running sums of
        x x' were most of a Newton step)."""
        if not len(self.risk_first):
            return np.zeros((0, *values.shape[1:]))
        start = self.risk_first[0]
        blocks = np.add.reduceat(values[start:], self.risk_first - start, axis=0)
        return np.cumsum(blocks[::-1], axis=0)[::-1]

    @overload
    def pieces(
        self, beta: np.ndarray, *, second: Literal[True] = ...
    ) -> tuple[float, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]: ...
    @overload
    def pieces(self, beta: np.ndarray, *, second: Literal[False]) -> tuple[float, np.ndarray, None, None]: ...
    def pieces(
        self, beta: np.ndarray, *, second: bool = True
    ) -> tuple[float, np.ndarray, np.ndarray | None, tuple[np.ndarray, np.ndarray] | None]:
        """Efron log-likelihood, score, information, and per-event-row pieces for cox.zph."""
        X = self.X
        eta = X @ beta
        w = np.exp(eta)
        wx = w[:, None] * X
        s0, s1 = self.at_risk_sums(w), self.at_risk_sums(wx)
        ev = self.ev_idx
        e0 = np.add.reduceat(w[ev], self.ev_first)
        e1 = np.add.reduceat(wx[ev], self.ev_first, axis=0)
        gi, frac = self.ev_group, self.frac
        den = s0[gi] - frac * e0[gi]
        mean = (s1[gi] - frac[:, None] * e1[gi]) / den[:, None]
        loglik = float(eta[ev].sum() - np.log(den).sum())
        score = X[ev].sum(axis=0) - mean.sum(axis=0)
        if not second:
            return loglik, score, None, None
        # The second moments as their upper triangle: (s2 - frac e2) / den - mean mean' per event row.
        a, b = self.upper
        wxx = wx[:, a] * X[:, b]
        s2, e2 = self.at_risk_sums(wxx), np.add.reduceat(wxx[ev], self.ev_first, axis=0)
        upper = (s2[gi] - frac[:, None] * e2[gi]) / den[:, None] - mean[:, a] * mean[:, b]
        var_rows = np.empty((len(ev), X.shape[1], X.shape[1]))
        var_rows[:, a, b] = upper
        var_rows[:, b, a] = upper
        return loglik, score, var_rows.sum(axis=0), (mean, var_rows)


def cox_ph(
    duration: npt.ArrayLike,
    event: npt.ArrayLike,
    X: npt.ArrayLike,
    *,
    terms: list[str],
    max_iter: int = 20,
    eps: float = 1e-9,
) -> CoxFit:
    """Cox proportional hazards model with Efron ties, as R `coxph(..., ties = "efron")`.

    Parameters
    ----------
    duration : array of float, days
    event : array of bool
    X : 2-d array (patients x terms), no missing values (drop incomplete rows first, as na.omit)
    terms : names of the columns of X

    Notes
    -----
    survival 3.5's coxfit6.c and coxph.fit: Newton-Raphson from beta = 0 with R's stopping rule
    |1 - loglik_best / loglik_new| <= eps (coxph.control: eps = 1e-9, iter.max = 20), the steps
    halved (ever more) while the log-likelihood falls. The information matrix is factored by
    survival's generalised Cholesky (cholesky2, toler.chol = eps^0.75 of the machine, on the
    covariates scaled as coxfit6 scales them): a column it finds redundant (constant, or a
    combination of the others) keeps beta = 0 and gets coefficient NA (NaN here), as coxph's
    "X matrix deemed to be singular". After convergence, R's check for infinite coefficients:
    |u V| > eps and > toler.inf |beta| (toler.inf = sqrt(eps)). When the iterations run out, R
    returns the last accepted beta, warns, and its variance is chinv2 of the information matrix as
    coxfit6 leaves it (not factored again); reproduced, so the numbers are R's. Variance = inverse
    information; Wald p and CI on the log scale. Efron's approximation as in Therneau's coxfit6.c.
    """
    duration, event = _as_float(duration), np.asarray(event, dtype=bool)
    x: np.ndarray = np.atleast_2d(_as_float(X).T).T
    if not event.any():
        return _without_events(duration, event, x, terms)
    r_means, scale = _coxfit6_centring(x)
    lp_r = x - r_means  # coxph's linear predictor is X beta less the means it centred by
    x = x - x.mean(axis=0)
    data = _EfronData(duration, event, x)
    p = x.shape[1]
    beta = np.zeros(p)
    loglik, score, info, _ = data.pieces(beta)
    loglik0 = loglik
    chol = _cholesky2(info * np.outer(scale, scale))
    newbeta = beta + scale * _chsolve2(chol, score * scale)
    halving, converged, iteration = 0, False, 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is reported below
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # overflow: halved below, as R
            newlik, newscore, newinfo, newrows = data.pieces(newbeta)
        chol = _cholesky2(newinfo * np.outer(scale, scale))
        finite = np.isfinite(newlik) and np.isfinite(newscore).all() and np.isfinite(newinfo).all()
        if finite and abs(1 - loglik / newlik) <= eps:
            beta, loglik, converged = newbeta, newlik, True
            final_score, rows = newscore, newrows  # the pieces at beta, for the checks and cox_zph
            break
        if not finite or newlik < loglik:
            halving += 1  # not improving: back towards the last good beta, further each time
            newbeta = (newbeta + halving * beta) / (halving + 1)
        else:
            halving = 0
            loglik = newlik
            beta, newbeta = newbeta, newbeta + scale * _chsolve2(chol, newscore * scale)
    else:
        iteration += 1  # coxfit6 reports iter.max + 1 when it ran out
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loglik, final_score, raw_info, rows = data.pieces(beta)
        # coxfit6 then inverts the information as its iteration leaves it, not factored again: the
        # upper triangle filled, the lower zero. chinv2 of that is 1 / the diagonal.
        chol = np.triu(raw_info * np.outer(scale, scale))
    var = _chinv2(chol) * np.outer(scale, scale)
    singular = converged & (np.diag(var) == 0)  # coxph.fit's which.sing (flag < nvar)
    infs = np.abs(final_score @ var)
    if converged:
        flagged = ~np.isfinite(final_score) | ((infs > eps) & (infs > np.sqrt(eps) * np.abs(beta)))
        infinite_unnamed = False
    else:
        flagged = np.zeros(p, dtype=bool)
        infinite_unnamed = bool((lp_r @ beta).max(initial=0.0) > 500 or not np.isfinite(infs).all())
    coef = np.where(singular, np.nan, beta)
    with np.errstate(invalid="ignore"):
        se = np.where(singular, np.nan, np.sqrt(np.diag(var)))
    return CoxFit(
        list(terms),
        coef,
        se,
        var,
        (loglik0, loglik),
        iteration,
        converged,
        len(duration),
        int(event.sum()),
        x @ beta,
        (data, rows),
        [t for t, f in zip(terms, flagged, strict=True) if f],
        [t for t, s in zip(terms, singular, strict=True) if s],
        infinite_unnamed,
    )


def _without_events(duration: np.ndarray, event: np.ndarray, x: np.ndarray, terms: list[str]) -> CoxFit:
    """coxph without a single event: every coefficient NA, no iterations, no warning."""
    p = x.shape[1]
    nan = np.full(p, np.nan)
    data = _EfronData(duration, event, x)
    rows = (np.zeros((0, p)), np.zeros((0, p, p)))
    no_var = np.zeros((p, p))
    lp = np.zeros(len(x))
    return CoxFit(list(terms), nan, nan, no_var, (0.0, 0.0), 0, True, len(x), 0, lp, (data, rows), [], list(terms))


def _coxfit6_centring(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """coxfit6's (means, scales) per column: the mean and n / sum |x - mean| (1 for a constant
    column); 0 and 1 for columns of -1/0/1 only (coxph's nocenter: neither centred nor scaled)."""
    means = x.mean(axis=0)
    spread = np.abs(x - means).sum(axis=0)
    zero_one = np.isin(x, (-1.0, 0.0, 1.0)).all(axis=0)
    with np.errstate(divide="ignore"):
        scale = np.where(zero_one | (spread == 0), 1.0, len(x) / spread)
    return np.where(zero_one, 0.0, means), scale


def _cholesky2(matrix: np.ndarray, toler: float = TOLER_CHOL) -> np.ndarray:
    """survival's cholesky2.c: matrix = F D F' (F unit lower triangular, D on the diagonal).

    A pivot below toler * the largest diagonal (or not finite) marks its column redundant: its D
    is 0. Returns the factors: F below the diagonal, D on it. The C loops over Python floats (a
    model has a handful of columns: faster than numpy calls, and R's order of operations)."""
    n = len(matrix)
    a = np.asarray(matrix, dtype=float).tolist()
    for i in range(n):
        for j in range(i + 1, n):
            a[j][i] = a[i][j]  # the lower triangle from the upper
    largest = max([a[i][i] for i in range(n) if a[i][i] > 0], default=0.0)  # NaN is not > 0
    if largest == 0 or not math.isfinite(largest):
        for i in range(n):
            a[i][i] = 0.0
        return np.array(a, dtype=float).reshape(n, n)
    tol = largest * toler
    for i in range(n):
        pivot = a[i][i]
        if not math.isfinite(pivot) or pivot < tol:
            a[i][i] = 0.0
            continue
        for j in range(i + 1, n):
            temp = a[j][i] / pivot
            a[j][i] = temp
            a[j][j] -= temp * temp * pivot
            for k in range(j + 1, n):
                a[k][j] -= temp * a[k][i]
    return np.array(a, dtype=float).reshape(n, n)


def _chsolve2(chol: np.ndarray, y: np.ndarray) -> np.ndarray:
    """survival's chsolve2.c: solve F D F' b = y; b = 0 for a redundant column."""
    a, b = chol.tolist(), [float(v) for v in y]
    n = len(b)
    for i in range(n):
        temp = b[i]
        for j in range(i):
            temp -= b[j] * a[i][j]
        b[i] = temp
    for i in range(n - 1, -1, -1):
        if a[i][i] == 0:
            b[i] = 0.0
            continue
        temp = b[i] / a[i][i]
        for j in range(i + 1, n):
            temp -= b[j] * a[j][i]
        b[i] = temp
    return np.array(b, dtype=float)


def _chinv2(chol: np.ndarray) -> np.ndarray:
    """survival's chinv2.c: the inverse from the factors; rows and columns of redundant columns 0."""
    n = len(chol)
    a = np.asarray(chol, dtype=float).tolist()
    _invert_factors(a, n)
    for i in range(n):
        if a[i][i] == 0:  # a redundant column
            for j in range(i):
                a[j][i] = 0.0
            for j in range(i, n):
                a[i][j] = 0.0
            continue
        for j in range(i + 1, n):  # F' D F of the inverted factors, into the upper triangle
            temp = a[j][i] * a[j][j]
            a[i][j] = temp
            for k in range(i, j):
                a[i][k] += temp * a[j][k]
    out = np.array(a, dtype=float).reshape(n, n)
    inverse: np.ndarray = np.triu(out) + np.triu(out, 1).T  # the upper triangle mirrored, as coxfit6 does
    return inverse


def _invert_factors(a: list[list[float]], n: int) -> None:
    """chinv2's first part, in place: D inverted on the diagonal, F inverted below it (the sweep)."""
    for i in range(n):
        if a[i][i] > 0:
            a[i][i] = 1 / a[i][i]
            for j in range(i + 1, n):
                a[j][i] = -a[j][i]
                for k in range(i):
                    a[j][k] += a[j][i] * a[i][k]


def cox_zph(fit: CoxFit) -> dict[str, Any]:
    """Proportional-hazards score test per term and global, as R `cox.zph(fit)` of survival >= 3.

    Notes
    -----
    survival 3's test (Therneau's zph1.c): with beta fixed at the estimate, the score test for
    adding x * g(t) for every covariate, g(t) = 1 - KM(t-) (transform = "km", KM of all patients in
    the model, left-continuous) centred at its mean over events. The 2p x 2p information matrix is
    accumulated with the Efron weights; the test for term j uses the beta block plus gamma_j;
    the global test all of them (p degrees of freedom). terms = TRUE with one column per term.
    Terms with an NA coefficient (fit.singular) are left out, as cox.zph leaves them out.
    """
    data, (mean, var_rows) = fit.zph_inputs
    keep = ~np.isnan(fit.coef)
    terms = [t for t, k in zip(fit.terms, keep, strict=True) if k]
    mean, var_rows = mean[:, keep], var_rows[:, keep][:, :, keep]
    km = kaplan_meier(data.time, data.event)
    idx = np.searchsorted(km.time, data.event_times, side="left") - 1
    s_before = np.where(idx >= 0, km.survival[np.maximum(idx, 0)], 1.0)
    g_time = 1.0 - s_before
    g_event = g_time[data.ev_group]
    g_time = g_time - g_event.mean()
    g_rows = g_time[data.ev_group]
    X_ev = data.X[data.ev_idx][:, keep]
    p = len(terms)
    u_gamma = (g_rows[:, None] * (X_ev - mean)).sum(axis=0)
    imat = np.empty((2 * p, 2 * p))
    imat[:p, :p] = var_rows.sum(axis=0)
    imat[:p, p:] = imat[p:, :p] = np.einsum("e,eij->ij", g_rows, var_rows)
    imat[p:, p:] = np.einsum("e,eij->ij", g_rows**2, var_rows)
    u = np.concatenate((np.zeros(p), u_gamma))
    rows: list[dict[str, Any]] = []
    for j, term in enumerate(terms):
        kk = [*range(p), p + j]
        uj = u[kk]
        chisq = float(uj @ np.linalg.solve(imat[np.ix_(kk, kk)], uj))
        rows.append({"term": term, "statistic": chisq, "df": 1, "p": float(stats.chi2.sf(chisq, 1))})
    chisq = float(u @ np.linalg.solve(imat, u))
    return {"terms": rows, "global": {"statistic": chisq, "df": p, "p": float(stats.chi2.sf(chisq, p))}}


# --------------------------------------------------------------------------- concordance


def concordance_index(duration: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike) -> dict[str, float]:
    """Harrell's C, as R `survival::concordance` of a coxph fit (risk = linear predictor).

    A pair is comparable when the shorter time is an event; a censored time equal to an event time
    counts as longer; two events at the same time are tied in y and left out. Higher risk with the
    earlier event is concordant; tied risk counts one half:
    C = (concordant + tied_x / 2) / (concordant + discordant + tied_x).
    NaN when no pair is comparable.

    Counting, vectorised: with key = 2 * time rank + (1 if censored), patient j is "longer" than
    the event i exactly when key_j > key_i. Sorted by key, those j are a suffix of the patients, and
    a merge-sort tree over the risk ranks (_count_below_prefix) counts the ones with lower and
    with lower-or-equal risk for every event at once: O(n log^2 n), no Python loop over times.
    """
    duration, event, risk = _as_float(duration), np.asarray(event, dtype=bool), _as_float(risk)
    n = len(duration)
    key = 2 * np.unique(duration, return_inverse=True)[1].reshape(-1) + ~event
    rank = np.unique(risk, return_inverse=True)[1].reshape(-1)
    order = np.argsort(key, kind="stable")
    events = np.flatnonzero(event)
    start = np.searchsorted(key[order], key[events], side="right")  # the longer patients: order[start:]
    r = rank[events]
    bounds = np.concatenate((r, r + 1))  # rank < r_i, rank <= r_i
    ends = np.concatenate((start, start))
    in_all = np.searchsorted(np.sort(rank), bounds, side="left")
    in_suffix = in_all - _count_below_prefix(rank[order], ends, bounds)
    below, upto = in_suffix[: len(r)], in_suffix[len(r) :]
    concordant = float(below.sum())
    tied = float((upto - below).sum())
    discordant = float((n - start - upto).sum())
    total = concordant + discordant + tied
    c = (concordant + tied / 2) / total if total else float("nan")
    return {"c_index": float(c), "concordant": concordant, "discordant": discordant, "tied_risk": tied}


def _count_below_prefix(values: npt.ArrayLike, ends: npt.ArrayLike, bounds: npt.ArrayLike) -> np.ndarray:
    """For each query q: the number of p < ends[q] with values[p] < bounds[q] (non-negative ints).

    A merge-sort tree: at level L the positions form blocks of 2**L, each block's values sorted
    (one sorted array of block * base + value per level). The prefix [0, end) is the union of one
    block per set bit L of end, block (end >> L) - 1; one searchsorted per level counts in it.
    """
    values, ends, bounds = (np.asarray(a, dtype=np.int64) for a in (values, ends, bounds))
    count = np.zeros(len(ends), dtype=np.int64)
    if not len(values) or not len(ends):
        return count
    base = max(int(values.max()) + 1, int(bounds.max()))
    tree = np.arange(len(values), dtype=np.int64) * base + values  # level 0: blocks of one
    level = 0
    while (1 << level) <= len(values):
        if level:  # pair up the blocks of the level below: two sorted runs each, merged by timsort
            tree = np.sort((tree // base >> 1) * base + tree % base, kind="stable")
        use = np.flatnonzero((ends >> level) & 1)
        b = (ends[use] >> level) - 1
        count[use] += np.searchsorted(tree, b * base + bounds[use], side="left") - (b << level)
        level += 1
    return count
