"""Fine-Gray proportional subdistribution hazards regression, as R's cmprsk::crr.

Pure numpy. Matches crr (cmprsk 2.2) to rounding: the same censoring weights, the same
Newton-Raphson path with step halving and stopping rule, and the same robust (sandwich) variance.
"""

from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
from scipy import stats

TYPE1, CENSORED, OTHER = 1, 0, 2


@dataclass(frozen=True)
class FineGrayFit:
    terms: list[str]
    coef: np.ndarray
    var: np.ndarray  # robust (sandwich) variance, as crr's `var`
    information: np.ndarray
    loglik: float  # log pseudo-likelihood at the estimate
    loglik_null: float
    converged: bool
    n: int
    n_missing: int
    iterations: int = 0  # Newton-Raphson steps taken (crr's maxiter is 10)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.var))

    def table(self, level: float = 0.95) -> list[dict[str, Any]]:
        """Per term: coef, se, hr, 95% CI of the hr, two-sided Wald p (as summary.crr)."""
        z = stats.norm.ppf(0.5 + level / 2)
        rows = []
        for term, b, se in zip(self.terms, self.coef, self.se, strict=True):
            rows.append(
                {
                    "term": term,
                    "coef": float(b),
                    "se": float(se),
                    "hr": float(np.exp(b)),
                    "ci_lower": float(np.exp(b - z * se)),
                    "ci_upper": float(np.exp(b + z * se)),
                    "p": float(2 * stats.norm.sf(abs(b / se))),
                }
            )
        return rows


class _Data:
    """Data sorted by time, the censoring weights G(t-) and the distinct type-1 failure times."""

    def __init__(self, time: np.ndarray, ici: np.ndarray, x: np.ndarray):
        order = np.argsort(time, kind="stable")
        self.t, self.ici, self.x = time[order], ici[order], x[order]
        self.n, self.p = self.x.shape
        self.g = _censoring_survival_before(self.t, self.ici)
        self.fail_times, self.d = np.unique(self.t[self.ici == TYPE1], return_counts=True)
        self.fail_start = np.searchsorted(self.t, self.fail_times, side="left")  # first index with t >= f
        self.g_fail = self.g[self.fail_start]
        self.is_other = self.ici == OTHER
        # Sum of x over the subjects failing at each failure time.
        fail_rows = np.flatnonzero(self.ici == TYPE1)
        k_of_row = np.searchsorted(self.fail_times, self.t[fail_rows])
        self.x_fail_sum = np.zeros((len(self.fail_times), self.p))
        np.add.at(self.x_fail_sum, k_of_row, self.x[fail_rows])


def _censoring_survival_before(t: np.ndarray, ici: np.ndarray) -> np.ndarray:
    """Kaplan-Meier of the censoring distribution evaluated just before each t (G(t-))."""
    times, first = np.unique(t, return_index=True)
    n_at_risk = len(t) - first
    censored = np.bincount(np.searchsorted(times, t[ici == CENSORED]), minlength=len(times))
    surv_after = np.cumprod(1.0 - censored / n_at_risk)
    surv_before = np.concatenate([[1.0], surv_after[:-1]])
    return surv_before[np.searchsorted(times, t)]


def _suffix(a: np.ndarray) -> np.ndarray:
    """out[i] = sum of a[i:], with out[n] = 0."""
    out = np.zeros((len(a) + 1, *a.shape[1:]))
    out[:-1] = np.cumsum(a[::-1], axis=0)[::-1]
    return out


def _prefix(a: np.ndarray) -> np.ndarray:
    """out[i] = sum of a[:i], with out[0] = 0."""
    out = np.zeros((len(a) + 1, *a.shape[1:]))
    out[1:] = np.cumsum(a, axis=0)
    return out


def _risk_sums(d: _Data, eb: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """S0, S1 (and S2 if order == 2) over each failure time's risk set: those with t >= f weigh
    exp(xb); those who failed from another cause before f weigh exp(xb) * G(f-) / G(t-)."""
    other_w = np.where(d.is_other, eb / d.g, 0.0)
    at, k = d.fail_start, d.g_fail
    s0 = _suffix(eb)[at] + k * _prefix(other_w)[at]
    s1 = _suffix(eb[:, None] * d.x)[at] + k[:, None] * _prefix(other_w[:, None] * d.x)[at]
    if order < 2:
        return s0, s1, None
    outer = d.x[:, :, None] * d.x[:, None, :]
    s2 = _suffix(eb[:, None, None] * outer)[at] + k[:, None, None] * _prefix(other_w[:, None, None] * outer)[at]
    return s0, s1, s2


@overload
def _lik_score_info(
    d: _Data, b: np.ndarray, *, derivatives: Literal[True] = ...
) -> tuple[float, np.ndarray, np.ndarray]: ...
@overload
def _lik_score_info(d: _Data, b: np.ndarray, *, derivatives: Literal[False]) -> tuple[float, None, None]: ...
def _lik_score_info(
    d: _Data, b: np.ndarray, *, derivatives: bool = True
) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """Negative log pseudo-likelihood, negative score and information (Breslow ties)."""
    xb = d.x @ b
    eb = np.exp(xb)
    s0, s1, s2 = _risk_sums(d, eb, 2 if derivatives else 0)
    lik = float(-(d.x_fail_sum @ b).sum() + (d.d * np.log(s0)).sum())
    if not derivatives:
        return lik, None, None
    assert s2 is not None  # order 2
    xbar = s1 / s0[:, None]
    score = -d.x_fail_sum.sum(axis=0) + d.d @ xbar
    info = np.einsum("k,kij->ij", d.d / s0, s2) - np.einsum("k,ki,kj->ij", d.d, xbar, xbar)
    return lik, score, info


def _robust_variance(d: _Data, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Information and the middle of the sandwich (sum over subjects of (eta_i + psi_i)^2), as crrvv."""
    eb = np.exp(d.x @ b)
    s0, s1, _ = _risk_sums(d, eb, 1)
    _, _, info = _lik_score_info(d, b)
    xbar = s1 / s0[:, None]
    # Position of each subject's time among the failure times: failures at or before t_i.
    n_before_or_at = np.searchsorted(d.fail_times, d.t, side="right")

    # eta_i: dN_i part minus the subject's share of d Lambda_1 over the failure times it is at risk.
    c0 = _prefix(d.d / s0)[n_before_or_at]
    c1 = _prefix((d.d / s0)[:, None] * xbar)[n_before_or_at]
    eta = -eb[:, None] * (d.x * c0[:, None] - c1)
    gk = d.d * d.g_fail / s0
    d0 = _suffix(gk)[n_before_or_at]
    d1 = _suffix(gk[:, None] * xbar)[n_before_or_at]
    other = d.is_other
    eta[other] -= (eb[other] / d.g[other])[:, None] * (d.x[other] * d0[other, None] - d1[other])
    fail_rows = np.flatnonzero(d.ici == TYPE1)
    eta[fail_rows] += d.x[fail_rows] - xbar[np.searchsorted(d.fail_times, d.t[fail_rows])]

    # psi_i: the part due to estimating the censoring distribution, via q(t) at censoring times.
    times, first, counts = np.unique(d.t, return_index=True, return_counts=True)
    at_risk = d.n - first
    censored = np.bincount(np.searchsorted(times, d.t[d.ici == CENSORED]), minlength=len(times))
    other_w = np.where(other, eb / d.g, 0.0)
    a = _prefix(other_w)[first]
    bvec = _prefix(other_w[:, None] * d.x)[first]
    later = np.searchsorted(d.fail_times, times, side="left")  # failure times >= t
    e0 = _suffix(d.d * d.g_fail / s0)[later]
    e1 = _suffix((d.d * d.g_fail / s0**2)[:, None] * s1)[later]
    q = bvec * e0[:, None] - a[:, None] * e1
    ss2 = -np.cumsum((censored / at_risk**2)[:, None] * q, axis=0)
    group = np.repeat(np.arange(len(times)), counts)
    psi = ss2[group]
    cens_rows = d.ici == CENSORED
    psi[cens_rows] += (q / at_risk[:, None])[group[cens_rows]]
    u = eta + psi
    return info, u.T @ u


def fine_gray(
    duration: npt.ArrayLike,
    status: npt.ArrayLike,
    X: npt.ArrayLike,
    *,
    terms: list[str],
    cause: int = 1,
    censor: int = 0,
    gtol: float = 1e-6,
    max_iter: int = 10,
) -> FineGrayFit:
    """Fine-Gray subdistribution hazards model for `cause`, other non-`censor` statuses competing.

    Parameters
    ----------
    duration : array-like of float, days
    status : array-like of int; `cause` = event of interest, `censor` = censored, else competing
    X : 2-d array-like, one column per term; rows with any missing value are dropped (na.omit)
    terms : names of the columns of X

    Returns
    -------
    FineGrayFit with coefficients (log subdistribution hazard ratios), crr's robust variance,
    the log pseudo-likelihood and whether the Newton-Raphson iterations converged.

    Notes
    -----
    Fine JP, Gray RJ. A proportional hazards model for the subdistribution of a competing risk.
    JASA 1999;94:496-509. The censoring distribution is the Kaplan-Meier estimate evaluated just
    before each time; the iteration (start at 0, step halving when the pseudo-likelihood does not
    improve, stop when max|score| * max(|b|, 1) < max(|loglik|, 1) * gtol) is crr's.
    """
    duration = np.asarray(duration, dtype=float)
    status = np.asarray(status, dtype=float)
    X = np.asarray(X, dtype=float).reshape(len(duration), -1)
    keep = np.isfinite(duration) & np.isfinite(status) & np.isfinite(X).all(axis=1)
    ici = np.where(status[keep] == cause, TYPE1, np.where(status[keep] == censor, CENSORED, OTHER))
    d = _Data(duration[keep], ici, X[keep])
    b = np.zeros(X.shape[1])
    converged = False
    for iteration in range(max_iter + 1):
        lik, score, info = _lik_score_info(d, b)
        if np.max(np.abs(score) * np.maximum(np.abs(b), 1)) < max(abs(lik), 1) * gtol:
            converged = True
            break
        if iteration == max_iter:
            break
        step = -np.linalg.solve(info, score)
        halvings, new_lik = 0, _lik_score_info(d, b + step, derivatives=False)[0]
        while np.isnan(new_lik) or new_lik > lik + 1e-4 * float(step @ score):
            halvings += 1
            step = step * 0.5
            new_lik = _lik_score_info(d, b + step, derivatives=False)[0]
            if halvings > 20:
                break
        if halvings > 20:
            break
        b = b + step
    information, middle = _robust_variance(d, b)
    inverse = np.linalg.inv(information)
    null_lik = _lik_score_info(d, np.zeros_like(b), derivatives=False)[0]
    return FineGrayFit(
        terms=list(terms),
        coef=b,
        var=inverse @ middle @ inverse.T,
        information=information,
        loglik=-lik,
        loglik_null=-null_lik,
        converged=converged,
        n=int(keep.sum()),
        n_missing=int((~keep).sum()),
        iterations=iteration,
    )
