"""Transit depth and mid-time from a light curve: a trapezoid of known shape, by least squares.

Model (times in days, any zero point)::

    f(t) = F0 * (1 - depth * s(t - t0))

with ``s`` the trapezoid of total duration ``T14`` and ingress/egress duration ``T12``: 1 for
``|dt| <= T14/2 - T12``, 0 for ``|dt| >= T14/2``, linear between (the limb-darkening-free shape
of Mandel & Agol 2002 to first order; Carter et al. 2008, ApJ 689, 499). ``T14`` and ``T12`` are
known (from the ephemeris), ``F0``, ``depth`` and ``t0`` are fitted.

Method (`fit_transit`): for ``t0`` on a grid over the data (step ``T12 / 4``) the model is linear
in ``(F0, F0 * depth)``, solved by weighted linear least squares; from the grid's best ``t0``,
``scipy.optimize.least_squares`` refines all three parameters (trust-region, analytic Jacobian),
and the errors of the baseline and depth are the square roots of the diagonal of
``(J^T W J)^-1`` at the solution (weights ``W = 1 / flux_err^2``). The mid-time's error is the
half-width of its ``Delta chi2 = 1`` interval with the baseline and depth re-fitted at each trial
mid-time (profile likelihood; the scan also guards against a trust-region stop at a kink of the
piecewise-linear model). With few integrations per ingress and a low signal-to-noise ratio per
integration, the chi-square is not a parabola in ``t0`` and this error is still optimistic
(mid-time pulls of std ~1.2 at depth / error-per-point ~ 2, ~1.05 at ~ 6; the tests' figures).
The errors are not scaled by the reduced chi-square (reported as ``chi2_reduced``): with
calibrated flux errors it should be ~1, and ``scale_errors=True`` scales them by
``sqrt(max(chi2_reduced, 1))`` when systematics remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TransitFit", "fit_transit", "relative_flux", "trapezoid_shape"]


def trapezoid_shape(dt, duration: float, ingress: float) -> np.ndarray:
    """The transit shape ``s`` (0 out of transit, 1 at full depth) at times ``dt`` from mid-transit."""
    if not 0 < ingress <= duration / 2:
        raise ValueError(f"need 0 < ingress <= duration / 2, got ingress {ingress}, duration {duration}")
    a = np.abs(np.asarray(dt, dtype=float))
    half = duration / 2.0
    return np.clip((half - a) / ingress, 0.0, 1.0)


def _shape_derivative(dt, duration: float, ingress: float) -> np.ndarray:
    """d s / d t0 (= -d s / d dt)."""
    a = np.abs(dt)
    half = duration / 2.0
    slope = ((a > half - ingress) & (a < half)) / ingress
    return np.sign(dt) * slope


@dataclass(frozen=True)
class TransitFit:
    """Result of `fit_transit` (times in the units and zero point of the input times)."""

    depth: float
    depth_err: float
    t0: float
    t0_err: float
    baseline: float
    baseline_err: float
    chi2_reduced: float
    n_points: int


def relative_flux(target, target_err, comparisons, comparisons_err) -> tuple[np.ndarray, np.ndarray]:
    """Target flux over the summed comparison flux, and its error (uncorrelated errors).

    ``comparisons`` and ``comparisons_err`` have shape ``(nint, ncomp)``; with no comparison
    (``ncomp == 0``) the target flux is returned unchanged.
    """
    target, target_err = np.asarray(target, float), np.asarray(target_err, float)
    comparisons = np.asarray(comparisons, float).reshape(len(target), -1)
    if comparisons.shape[1] == 0:
        return target.copy(), target_err.copy()
    total = comparisons.sum(axis=1)
    total_err = np.sqrt((np.asarray(comparisons_err, float).reshape(comparisons.shape) ** 2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = target / total
        ratio_err = np.abs(ratio) * np.sqrt((target_err / target) ** 2 + (total_err / total) ** 2)
    return ratio, ratio_err


def _profile_chi2(t, f, w, t0, duration, ingress) -> float:
    """Chi-square at mid-time ``t0``, minimised over the baseline and depth (linear)."""
    s = trapezoid_shape(t - t0, duration, ingress)
    design = np.stack([np.ones_like(t), -s], axis=1)
    normal = design.T @ (design * w[:, None])
    if abs(np.linalg.det(normal)) < 1e-300:
        return np.inf
    coeffs = np.linalg.solve(normal, design.T @ (w * f))
    return float((w * (f - design @ coeffs) ** 2).sum())


def _profile_t0(t, f, w, t0, fisher_err, duration, ingress) -> tuple[float, float]:
    """Mid-time of least chi-square and the half-width of its ``chi2 <= chi2_min + 1`` interval,
    the baseline and depth re-fitted at each trial ``t0`` (profile likelihood), on 1201 trial
    mid-times over +-6 Fisher errors (at least +-ingress/2) about ``t0``."""
    span = max(6.0 * fisher_err, 0.5 * ingress) if np.isfinite(fisher_err) else 0.5 * ingress
    trials = t0 + np.linspace(-span, span, 1201)
    chi2 = np.array([_profile_chi2(t, f, w, trial, duration, ingress) for trial in trials])
    inside = trials[chi2 <= chi2.min() + 1.0]
    best = float(trials[np.argmin(chi2)])
    return best, (0.5 * float(inside.max() - inside.min()) if inside.size > 1 else float(fisher_err))


def fit_transit(time, flux, flux_err, duration: float, ingress: float, t0_guess: float | None = None,
                good=None, scale_errors: bool = False) -> TransitFit:  # fmt: skip
    """Fit depth, mid-time and baseline of a trapezoid transit of known duration (module docstring).

    Parameters
    ----------
    time, flux, flux_err : array_like
        Light curve (any flux unit; times in days from any zero point).
    duration, ingress : float
        ``T14`` and ``T12`` in the units of ``time``.
    t0_guess : float, optional
        Restrict the grid search to within ``duration`` of this time (default: the whole span).
    good : array of bool, optional
        Points to use (default: finite values with positive errors).
    scale_errors : bool
        Scale the errors by ``sqrt(max(chi2_reduced, 1))``.

    Raises
    ------
    ValueError
        Fewer than 4 usable points, or no grid time that puts any point in transit.
    """
    from scipy.optimize import least_squares

    t = np.asarray(time, float)
    f = np.asarray(flux, float)
    e = np.asarray(flux_err, float)
    use = np.isfinite(t) & np.isfinite(f) & np.isfinite(e) & (e > 0)
    if good is not None:
        use &= np.asarray(good, bool)
    t, f, e = t[use], f[use], e[use]
    if t.size < 4:
        raise ValueError(f"{t.size} usable points: too few to fit a transit")
    w = 1.0 / e**2
    lo, hi = t.min(), t.max()
    if t0_guess is not None:
        lo, hi = max(lo, t0_guess - duration), min(hi, t0_guess + duration)
    grid = np.arange(lo, hi + ingress / 8.0, ingress / 4.0)
    best = (np.inf, None)
    for t0 in grid:
        s = trapezoid_shape(t - t0, duration, ingress)
        if not np.any(s > 0) or np.all(s > 0):
            continue
        design = np.stack([np.ones_like(t), -s], axis=1)
        normal = design.T @ (design * w[:, None])
        coeffs = np.linalg.solve(normal, design.T @ (w * f))
        chi2 = float((w * (f - design @ coeffs) ** 2).sum())
        if chi2 < best[0]:
            best = (chi2, (coeffs[0], coeffs[1] / coeffs[0], t0))
    if best[1] is None:
        raise ValueError("no mid-time in the searched range puts part of the light curve in and out of transit")
    sw = np.sqrt(w)

    def residuals(p):
        return sw * (f - p[0] * (1.0 - p[1] * trapezoid_shape(t - p[2], duration, ingress)))

    def jacobian(p):
        s = trapezoid_shape(t - p[2], duration, ingress)
        ds = _shape_derivative(t - p[2], duration, ingress)
        return -sw[:, None] * np.stack([1.0 - p[1] * s, -p[0] * s, -p[0] * p[1] * ds], axis=1)

    solution = least_squares(residuals, np.array(best[1]), jac=jacobian, method="trf", x_scale="jac")
    p = solution.x
    jac = jacobian(p)
    covariance = np.linalg.pinv(jac.T @ jac)
    dof = max(t.size - 3, 1)
    chi2_reduced = float((residuals(p) ** 2).sum() / dof)
    scale = np.sqrt(max(chi2_reduced, 1.0)) if scale_errors else 1.0
    errors = np.sqrt(np.diag(covariance)) * scale
    t0_best, t0_err = _profile_t0(t, f, w, p[2], errors[2] / scale, duration, ingress)
    if _profile_chi2(t, f, w, t0_best, duration, ingress) < _profile_chi2(t, f, w, p[2], duration, ingress):
        # The trust-region solution stopped at a kink of the piecewise-linear model: take the
        # profile's minimum and the baseline and depth there.
        p = least_squares(residuals, np.array([p[0], p[1], t0_best]), jac=jacobian, method="trf", x_scale="jac").x
        covariance = np.linalg.pinv(jacobian(p).T @ jacobian(p))
        errors = np.sqrt(np.diag(covariance)) * scale
    t0_err *= scale
    return TransitFit(depth=float(p[1]), depth_err=float(errors[1]), t0=float(p[2]), t0_err=float(t0_err),
                      baseline=float(p[0]), baseline_err=float(errors[0]), chi2_reduced=chi2_reduced,
                      n_points=int(t.size))  # fmt: skip
