"""Background (sky) estimation for imager exposures: from dedicated sky frames or the frame itself.

Both estimators work on flat-fielded count rates and ignore pixels flagged DO_NOT_USE.

- `sky_frame_background`: the sky exposures of an association, combined (median of two,
  sigma-clipped mean of three or more), then matched to the science frame: ``'scale'`` multiplies
  the combined sky by the ratio of the source-free sky levels (sigma-clipped mode) of science and sky (the
  near-infrared sky varies in level between exposures while its pattern stays), ``'offset'``
  adds the difference of those levels, ``'none'`` uses the combined sky as it is.
- `self_background`: a 2-D background from the science frame with its sources masked
  (`iris_pipeline.background.mesh`: sigma-clipped mode estimates in boxes, spline-interpolated),
  twice, the second time with the sources found on the first estimate masked (`source_mask`).

Faint source light that escapes the mask biases a background high and point-source fluxes
low; the mode estimator and the smoothed detection of `source_mask` keep that bias below the
noise (``benchmarks/check_image2_truth.py`` measures it against the simulator's truth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import SigmaClip, sigma_clipped_stats
from photutils.background import SExtractorBackground
from scipy import ndimage

from ..dqflags import PIXEL
from .mesh import mesh_background

__all__ = ["BackgroundEstimate", "combine_sky_frames", "self_background", "sky_frame_background", "source_mask"]

SKY_MATCH_METHODS = ("scale", "offset", "none")
# Clipped statistics of a whole frame are taken on a regular sample of this many pixels: their
# error is then far below the noise of one pixel, at a fraction of the cost.
STATISTICS_SAMPLE = 1_000_000


@dataclass
class BackgroundEstimate:
    """A background image and how it was obtained.

    Attributes
    ----------
    background : numpy.ndarray
        float32 background, same unit as the science data.
    variance_poisson, variance_rnoise : numpy.ndarray or None
        Variance that subtracting ``background`` adds (None when negligible: a smooth model).
    level : float
        Median of ``background``.
    method : str
        Short description for the BKGMETH keyword.
    scale : float
        Factor applied to the sky frames (1 for the self background).
    """

    background: np.ndarray
    variance_poisson: np.ndarray | None
    variance_rnoise: np.ndarray | None
    level: float
    method: str
    scale: float = 1.0


def _good(dq: np.ndarray) -> np.ndarray:
    return (dq & PIXEL["DO_NOT_USE"]) == 0


def _sample(image: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Good pixels of `image`, at most about `STATISTICS_SAMPLE` of them on a regular stride."""
    stride = max(1, int(np.sqrt(image.size / STATISTICS_SAMPLE)))
    return image[::stride, ::stride][good[::stride, ::stride]]


def _mode(values: np.ndarray) -> float:
    """Sky level of a set of pixels: the SExtractor mode estimate of their 3-sigma-clipped distribution."""
    return float(SExtractorBackground(sigma_clip=SigmaClip(sigma=3.0, maxiters=5)).calc_background(values))


def source_mask(
    data, good, nsigma: float = 3.0, grow_pix: int = 2, reference=None, smooth_pix: float = 2.0
) -> np.ndarray:
    """Pixels of sources, including their faint wings, grown by `grow_pix` pixels.

    The frame minus `reference` (a background image or level; default: the sigma-clipped median
    of the good pixels) is smoothed by a Gaussian of ``smooth_pix`` sigma, which raises the
    significance of faint extended light, and pixels above ``nsigma`` times the sigma-clipped
    standard deviation of the smoothed frame are sources.
    """
    if reference is None:
        _, reference, _ = sigma_clipped_stats(_sample(data, good), sigma=3.0, maxiters=5)
    residual = np.where(good, data - reference, 0.0).astype(np.float32)
    if smooth_pix > 0:
        residual = ndimage.gaussian_filter(residual, smooth_pix)
    _, centre, std = sigma_clipped_stats(_sample(residual, good), sigma=3.0, maxiters=5)
    mask = good & (residual > centre + nsigma * std)
    if grow_pix > 0:
        mask = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool), iterations=grow_pix)
    return mask


def combine_sky_frames(frames, dqs, variances_poisson, variances_rnoise):
    """Combine sky frames pixel by pixel.

    Returns ``(sky, var_poisson, var_rnoise, n_used)``: the median of two frames (or the frame
    itself), the 3-sigma-clipped mean of three or more, with bad pixels excluded; NaN where no
    frame is good. The variances are those of the mean of the frames used (the median of two is
    their mean).
    """
    stack = np.stack([np.where(_good(dq), frame, np.nan) for frame, dq in zip(frames, dqs, strict=True)])
    if stack.shape[0] >= 3:
        clipped = SigmaClip(sigma=3.0, maxiters=3)(stack, axis=0, masked=False)
        stack = np.where(np.isfinite(clipped), stack, np.nan)
    used = np.isfinite(stack)
    n_used = used.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sky = np.where(n_used > 0, np.nansum(stack, axis=0) / np.maximum(n_used, 1), np.nan)
        weight = np.where(n_used > 0, 1.0 / np.maximum(n_used, 1) ** 2, np.nan)
        var_p = weight * np.where(used, np.stack(variances_poisson), 0.0).sum(axis=0)
        var_r = weight * np.where(used, np.stack(variances_rnoise), 0.0).sum(axis=0)
    return sky.astype(np.float32), var_p.astype(np.float32), var_r.astype(np.float32), n_used


def sky_frame_background(
    science, science_dq, sky_frames, sky_dqs, sky_var_poisson, sky_var_rnoise, method: str = "scale",
    nsigma: float = 3.0, mask_grow_pix: int = 2,
) -> BackgroundEstimate:  # fmt: skip
    """Background of a science frame from dedicated sky frames (see the module docstring).

    Raises
    ------
    ValueError
        If `method` is unknown, no sky frame is given, or no pixel is good in both science and sky.
    """
    if method not in SKY_MATCH_METHODS:
        raise ValueError(f"sky matching method {method!r}; choose from {', '.join(SKY_MATCH_METHODS)}")
    if not sky_frames:
        raise ValueError("no sky frame given")
    sky, var_p, var_r, n_used = combine_sky_frames(sky_frames, sky_dqs, sky_var_poisson, sky_var_rnoise)
    good = _good(science_dq) & (n_used > 0) & np.isfinite(science)
    if not good.any():
        raise ValueError("no pixel is good in both the science frame and the sky frames")
    sources = source_mask(science, good, nsigma, mask_grow_pix) | source_mask(sky, good, nsigma, mask_grow_pix)
    clean = good & ~sources
    science_level = _mode(science[clean])
    sky_level = _mode(sky[clean])
    scale = 1.0
    if method == "scale":
        if not sky_level > 0:
            raise ValueError(f"sky frames have a non-positive level ({sky_level:.4g}); cannot scale them")
        scale = float(science_level / sky_level)
        background = sky * np.float32(scale)
        var_p *= np.float32(scale**2)
        var_r *= np.float32(scale**2)
    elif method == "offset":
        background = sky + np.float32(science_level - sky_level)
    else:
        background = sky
    background = np.where(n_used > 0, background, np.float32(0.0)).astype(np.float32)
    return BackgroundEstimate(
        background=background,
        variance_poisson=np.where(n_used > 0, var_p, 0.0).astype(np.float32),
        variance_rnoise=np.where(n_used > 0, var_r, 0.0).astype(np.float32),
        level=float(np.median(_sample(background, good))),
        method=f"sky frames x{len(sky_frames)} ({method})",
        scale=scale,
    )


def self_background(data, dq, box_size: int = 64, nsigma: float = 3.0, mask_grow_pix: int = 2) -> BackgroundEstimate:
    """2-D background of a frame from its own source-masked pixels (see the module docstring).

    Raises
    ------
    ValueError
        If the frame has too few good pixels.
    """
    good = _good(dq) & np.isfinite(data)
    if good.sum() < 0.1 * data.size:
        raise ValueError(f"only {good.sum()} good pixels of {data.size}: cannot estimate a background")
    box = min(box_size, *data.shape)
    first_guess = mesh_background(data, good, box, step=2 if box >= 32 else 1)
    sources = source_mask(data, good, nsigma, mask_grow_pix, first_guess)
    background = mesh_background(data, good & ~sources, box)
    return BackgroundEstimate(
        background=background,
        variance_poisson=None,
        variance_rnoise=None,
        level=float(np.median(_sample(background, good))),
        method=f"self, {box}x{box} px boxes, sources masked",
    )
