"""The stage-3 IFS steps: cube_align -> cube_skymatch -> cube_outlier_detection -> cube_combine -> ifs_extract_1d.

The first four take and return a list of ``IFUCubeModel`` (the dithered ``_s3d`` cubes of one
target, mode, plate scale and grating, on one wavelength grid); ``cube_combine`` returns the
combined cube and ``ifs_extract_1d`` the point-source spectra (``MultiSpecModel``) of a cube. The
algorithms are in `combine` and `point_source`. See ``docs/ifs.md``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from .. import datamodels, dqflags
from ..associations import stage3_members
from ..exceptions import InputFileError
from ..quicklook import white_light_image
from .combine import (
    CubeGeometry,
    DrizzleMap,
    blot,
    drizzle_cubes,
    flag_outliers,
    flat_variance,
    linear_combination_variance,
    match_backgrounds,
    neighbour_derivative,
    output_frame,
    relative_shifts,
)
from .cube import SURFACE_BRIGHTNESS_UNIT, cube_fits_wcs, cube_gwcs, spaxel_solid_angle_sr
from .point_source import aperture_coefficients, find_point_sources, psf_coefficients, psf_image
from .steps import IFSStep, add_cube_header_cards

__all__ = [
    "Combination",
    "CubeAlignStep",
    "CubeCombineStep",
    "CubeOutlierDetectionStep",
    "CubeSkyMatchStep",
    "IFSExtract1DStep",
    "cube_geometry",
    "open_cubes",
]

log = logging.getLogger(__name__)

DO_NOT_USE = np.uint32(dqflags.PIXEL["DO_NOT_USE"])
OUTLIER = np.uint32(dqflags.PIXEL["OUTLIER"])
JY_PER_MJY = 1e6
CONFIGURATION = ("ifs_mode", "ifs_scale", "filter", "resolving_power")


def open_cubes(step_input) -> tuple[list, str | None]:
    """The cubes of a stage-3 input and the association's product name.

    ``step_input``: an association JSON (science members of its first product), one cube, or a
    list of cube files or models. Members that are not cubes are returned as they are (the
    pipeline reduces them with spec2 first).
    """
    members, product = stage3_members(step_input)
    return [item if isinstance(item, datamodels.IrisDataModel) else datamodels.open(item) for item in members], product


def check_cubes(cubes) -> None:
    """Refuse cubes that cannot be combined, with a one-line error naming the file."""
    if not cubes:
        raise InputFileError("spec3", "no cube to combine")
    first = cubes[0]
    for cube in cubes:
        name = cube.meta.filename
        if not isinstance(cube, datamodels.IFUCubeModel):
            raise InputFileError(name, f"spec3 needs IFS cubes (_s3d), not {cube.meta.model_type}")
        if cube.meta.bunit_data != SURFACE_BRIGHTNESS_UNIT:
            raise InputFileError(name, f"cube in {cube.meta.bunit_data}, not {SURFACE_BRIGHTNESS_UNIT}: no IFS_PHOTOM?")
        for key in CONFIGURATION:
            mine, theirs = getattr(cube.meta.instrument, key, None), getattr(first.meta.instrument, key, None)
            if mine != theirs:
                raise InputFileError(name, f"{key} {mine} differs from {theirs} of {first.meta.filename}")
        if cube.wavelength.shape != first.wavelength.shape or not np.allclose(
            cube.wavelength, first.wavelength, rtol=1e-6
        ):
            raise InputFileError(name, f"wavelength grid differs from that of {first.meta.filename}")


def cube_geometry(cube) -> CubeGeometry:
    """Sky geometry of a cube from its pointing keywords and plate scale."""
    pointing = cube.meta.pointing
    ny, nx = cube.data.shape[1:]
    return CubeGeometry(float(pointing.ra_ref or 0.0), float(pointing.dec_ref or 0.0), float(pointing.pa_aper or 0.0),
                        float(cube.meta.instrument.ifs_scale), nx, ny)  # fmt: skip


def set_cube_wcs(cube, geometry: CubeGeometry) -> None:
    """gWCS and FITS WCS of a cube from a geometry (pointing at the field centre)."""
    cube.meta.pointing.ra_ref, cube.meta.pointing.dec_ref = geometry.ra_deg, geometry.dec_deg
    cube.meta.pointing.pa_aper = geometry.pa_deg
    grid = cube.wavelength.astype(float)
    args = (cube.data.shape, geometry.scale_mas, geometry.ra_deg, geometry.dec_deg, geometry.pa_deg, grid)
    cube.meta.wcs = cube_gwcs(*args)
    add_cube_header_cards(cube, cube_fits_wcs(*args), geometry.scale_mas)


def _nanmedian(values, axis):
    """Median ignoring NaN; NaN (without a warning) where every value is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def _usable(cube) -> np.ndarray:
    return ((cube.dq & DO_NOT_USE) == 0) & np.isfinite(cube.data) & np.isfinite(cube.err)


def white_light_with_error(cube) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the good planes of each spaxel, and its error."""
    good = _usable(cube)
    count = good.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        white = np.where(count > 0, np.where(good, cube.data, 0.0).sum(axis=0) / count, np.nan)
        error = np.where(
            count > 0, np.sqrt(np.where(good, cube.err.astype(float) ** 2, 0.0).sum(axis=0)) / count, np.nan
        )
    return white, error


class CubeListStep(IFSStep):
    """Base of the steps that take the list of dithered cubes."""

    def open_list(self, step_input) -> list:
        cubes, _ = open_cubes(step_input)
        check_cubes(cubes)
        return cubes

    def mark(self, cubes, status: str) -> None:
        """Record this step's status in every cube."""
        for cube in cubes:
            setattr(cube.meta.cal_step, self.class_alias, status)

    def frame(self, cubes) -> tuple[list[CubeGeometry], CubeGeometry]:
        geometries = [cube_geometry(cube) for cube in cubes]
        try:
            return geometries, output_frame(geometries)
        except ValueError as err:
            raise InputFileError(cubes[0].meta.filename, str(err)) from None

    def resample_each(self, cubes) -> tuple[list[np.ndarray], CubeGeometry, list]:
        """Every cube alone on the common output grid (NaN where it has no data)."""
        geometries, frame = self.frame(cubes)
        positions = [geometry.to_frame(frame) for geometry in geometries]
        shape = (cubes[0].data.shape[0], frame.ny, frame.nx)
        singles = []
        for cube, position in zip(cubes, positions, strict=True):
            data, _, _, _ = drizzle_cubes([cube.data], [np.square(cube.err, dtype=float)], [_usable(cube)], [position],
                                          [np.ones(shape[0])], shape)  # fmt: skip
            singles.append(data)
        return singles, frame, positions


class CubeAlignStep(CubeListStep):
    """Relative alignment of dithered cubes on the point sources of their white-light images.

    Every cube's pointing is moved so that a source it shares with the cubes already aligned
    falls where they measured it (`combine.relative_shifts`; the first cube with a source is the
    reference): on a mosaic, cubes that do not overlap the first are aligned through those that
    do. A cube without a source within ``max_shift`` of one on the sky keeps its commanded
    pointing, with a warning; with fewer than two cubes aligned the step is recorded as SKIPPED.
    """

    class_alias = "cube_align"
    spec = """
    min_snr = float(default=10.0, min=0)  # detection threshold of the alignment sources on the white-light image
    max_shift = float(default=2.0, min=0)  # largest correction of the commanded pointing (spaxels) accepted
    max_sources = integer(default=10, min=1)  # brightest sources of each cube matched
    require_source = boolean(default=False)  # fail instead of keeping the commanded pointings
    """  # noqa: E501

    def process(self, step_input):
        cubes = self.open_list(step_input)
        found = []
        for cube in cubes:
            white, error = white_light_with_error(cube)
            found.append(find_point_sources(white, error, self.min_snr, max_sources=self.max_sources))
        geometries = [cube_geometry(cube) for cube in cubes]
        shifts = relative_shifts(found, geometries, self.max_shift)
        if sum(shift is not None for shift in shifts) < 2:
            return self._commanded(cubes, f"fewer than two cubes share a point source above S/N {self.min_snr} "
                                          f"within max_shift {self.max_shift} spaxels")  # fmt: skip
        for cube, geometry, shift in zip(cubes, geometries, shifts, strict=True):
            if shift is None:
                log.warning("%s: no point source shared with the other cubes; commanded pointing kept",
                            cube.meta.filename)  # fmt: skip
                continue
            # Moving the pointing by the shift (in this cube's spaxels) puts the sources where the others have them.
            ra, dec = geometry.pixel_to_world(0.5 * (geometry.nx - 1) + shift[0], 0.5 * (geometry.ny - 1) + shift[1])
            set_cube_wcs(cube, CubeGeometry(float(ra), float(dec), geometry.pa_deg, geometry.scale_mas,
                                            geometry.nx, geometry.ny))  # fmt: skip
            log.info("%s: pointing corrected by (%.3f, %.3f) spaxels", cube.meta.filename, *shift)
        self.mark(cubes, "COMPLETE")
        return cubes

    def _commanded(self, cubes, reason: str):
        if self.require_source:
            raise InputFileError(cubes[0].meta.filename, f"cube_align: {reason}")
        # stpipe records every cube of a list result with the step's outcome after process.
        self.record_outcome("SKIPPED", f"{reason}; the commanded pointings are kept")
        self.mark(cubes, "SKIPPED")
        return cubes


class CubeSkyMatchStep(CubeListStep):
    """Remove the differences between the residual backgrounds of the cubes where they overlap."""

    class_alias = "cube_skymatch"
    spec = """
    smooth_planes = integer(default=21, min=1)  # running median of the per-plane differences along wavelength
    """  # noqa: E501

    def process(self, step_input):
        cubes = self.open_list(step_input)
        if len(cubes) < 2:
            log.warning("cube_skymatch: one cube, nothing to match")
            self.mark(cubes, "SKIPPED")
            return cubes
        singles, _, _ = self.resample_each(cubes)
        offsets = match_backgrounds(singles, smooth_planes=self.smooth_planes)
        for cube, offset in zip(cubes, offsets, strict=True):
            cube.data = (cube.data - offset[:, None, None]).astype(np.float32)
            cube.white_light = white_light_image(cube.data, cube.dq)
            log.info("%s: background offset %.4g %s (median over planes)", cube.meta.filename, np.median(offset),
                     SURFACE_BRIGHTNESS_UNIT)  # fmt: skip
        self.mark(cubes, "COMPLETE")
        return cubes


class CubeOutlierDetectionStep(CubeListStep):
    """Flag voxels of each cube that differ from the median of all cubes (cosmic-ray residuals, bad spaxels)."""

    class_alias = "cube_outlier_detection"
    spec = """
    snr = float(default=5.0, min=0)  # threshold in units of the voxel's error
    scale = float(default=1.0, min=0)  # tolerance in units of the median's largest difference to its neighbours
    min_cubes = integer(default=3, min=2)  # fewer cubes: no median to compare with, step skipped
    """  # noqa: E501

    def process(self, step_input):
        cubes = self.open_list(step_input)
        if len(cubes) < self.min_cubes:
            log.warning("cube_outlier_detection: %d cubes, at least %d needed; nothing flagged", len(cubes),
                        self.min_cubes)  # fmt: skip
            self.mark(cubes, "SKIPPED")
            return cubes
        singles, _, positions = self.resample_each(cubes)
        stack = np.stack(singles)
        count = np.isfinite(stack).sum(axis=0)
        median = np.where(count >= self.min_cubes, _nanmedian(stack, axis=0), np.nan)
        derivative = neighbour_derivative(median)
        for cube, (x, y) in zip(cubes, positions, strict=True):
            outliers = flag_outliers(cube.data, cube.err, _usable(cube), blot(median, x, y), blot(derivative, x, y),
                                     self.snr, self.scale)  # fmt: skip
            cube.dq = cube.dq | np.where(outliers, OUTLIER | DO_NOT_USE, np.uint32(0))
            log.info("%s: %d outlier voxels flagged", cube.meta.filename, int(outliers.sum()))
        self.mark(cubes, "COMPLETE")
        return cubes


@dataclass
class Combination:
    """The inputs of a combined cube and where they landed (for exact extraction errors)."""

    drizzle_map: DrizzleMap
    variances: list[np.ndarray]
    goods: list[np.ndarray]
    flat_errors: list[np.ndarray] | None = None
    flat_groups: list | None = None


class CubeCombineStep(CubeListStep):
    """Drizzle the cubes onto one spatial grid (flux-conserving), with weight and exposure maps."""

    class_alias = "cube_combine"
    spec = """
    pixfrac = float(default=1.0, min=0.1, max=1.0)  # side of the dropped spaxel, in input spaxels
    weight_type = option('ivm', 'exptime', default='ivm')  # per-plane weight of each cube: inverse median variance, or exposure time
    """  # noqa: E501

    def process(self, step_input):
        cubes = self.open_list(step_input)
        geometries, frame = self.frame(cubes)
        nwave = cubes[0].data.shape[0]
        shape = (nwave, frame.ny, frame.nx)
        # The flat's part of the variance is shared by the cubes of one flat: combined apart (flat_variance).
        flat_vars = [np.clip(cube.var_flat.astype(float), 0.0, None) for cube in cubes]
        variances = [
            np.clip(np.square(cube.err, dtype=float) - v, 0.0, None) for cube, v in zip(cubes, flat_vars, strict=True)
        ]
        flat_errors = [np.sign(cube.data) * np.sqrt(v) for cube, v in zip(cubes, flat_vars, strict=True)]
        flat_groups = [cube.meta.ref_file.ifs_flat.name for cube in cubes]
        goods = [_usable(cube) for cube in cubes]
        weights = []
        for cube, var, good in zip(cubes, variances, goods, strict=True):
            if self.weight_type == "exptime":
                weights.append(np.full(nwave, float(cube.meta.exposure.effective_exposure_time or 1.0)))
                continue
            median_var = _nanmedian(np.where(good, var, np.nan).reshape(nwave, -1), axis=1)
            weights.append(np.where(np.isfinite(median_var) & (median_var > 0), 1.0 / median_var, 0.0))
        positions = [geometry.to_frame(frame) for geometry in geometries]
        data, variance, coverage, drizzle_map = drizzle_cubes(
            [c.data for c in cubes], variances, goods, positions, weights, shape, self.pixfrac,
            [g.scale_mas / frame.scale_mas for g in geometries],
        )  # fmt: skip
        var_flat = flat_variance(drizzle_map, flat_errors, goods, flat_groups)
        variance = variance + var_flat
        combined = datamodels.IFUCubeModel(shape)
        combined.update(cubes[0], only="PRIMARY")
        combined.data = data.astype(np.float32)
        combined.err = np.sqrt(variance).astype(np.float32)
        combined.var_flat = var_flat.astype(np.float32)
        combined.dq = np.where(np.isfinite(data), np.uint32(0), DO_NOT_USE).astype(np.uint32)
        combined.wavelength = cubes[0].wavelength
        combined.weightmap = drizzle_map.weight_sum.astype(np.float32)
        combined.exposure_map = coverage.astype(np.float32)
        combined.white_light = white_light_image(combined.data, combined.dq)
        combined.meta.bunit_data = combined.meta.bunit_err = SURFACE_BRIGHTNESS_UNIT
        set_cube_wcs(combined, frame)
        for key in ("cube_align", "cube_skymatch", "cube_outlier_detection"):
            setattr(combined.meta.cal_step, key, getattr(cubes[0].meta.cal_step, key, None))
        combined.meta.filename = cubes[0].meta.filename
        log.info("cube_combine: %d cubes -> %d planes x %d x %d spaxels", len(cubes), *shape)
        self.combination = Combination(drizzle_map, variances, goods, flat_errors, flat_groups)
        return combined


class IFSExtract1DStep(IFSStep):
    """Spectra of the point sources of a cube: aperture (with aperture correction) and PSF-weighted.

    Sources are found on the white-light image (`point_source.find_point_sources`); the PSF is
    the circular Gaussian fitted there. ``method`` chooses which extraction fills the FLUX column;
    both are in the table. With ``combination`` (given by spec3) the errors include the covariance
    of the drizzled spaxels; on a cube alone they are propagated from its ERR array.
    """

    class_alias = "ifs_extract_1d"
    spec = """
    method = option('aperture', 'psf', default='aperture')  # extraction in the FLUX column
    aperture_radius = float(default=1.5, min=0.1)  # aperture radius in units of the fitted FWHM
    min_snr = float(default=10.0, min=0)  # detection threshold on the white-light image
    max_sources = integer(default=10, min=1)  # brightest sources extracted
    """  # noqa: E501

    def process(self, step_input, combination: Combination | None = None):
        cube = datamodels.open(step_input)
        name = cube.meta.filename
        if not isinstance(cube, datamodels.IFUCubeModel):
            raise InputFileError(name, f"ifs_extract_1d needs a cube, not {cube.meta.model_type}")
        white, error = white_light_with_error(cube)
        sources = find_point_sources(white, error, self.min_snr, self.max_sources)
        spectra = datamodels.MultiSpecModel()
        spectra.update(cube, only="PRIMARY")
        spectra.meta.extraction.method = self.method
        geometry = cube_geometry(cube)
        spaxel_sr = spaxel_solid_angle_sr(geometry.scale_mas)
        spectra.meta.extraction.spaxel_sr = spaxel_sr
        self.sources = Table(names=("id", "x", "y", "ra", "dec", "fwhm_spax", "white_light_snr"),
                             dtype=(int, float, float, float, float, float, float))  # fmt: skip
        self.sources["x"].unit = self.sources["y"].unit = self.sources["fwhm_spax"].unit = "pix"
        self.sources["ra"].unit = self.sources["dec"].unit = "deg"
        if not sources:
            return self.skipped(
                spectra, f"{name}: no point source above S/N {self.min_snr:.1f} on the white-light image; no spectrum"
            )
        usable = _usable(cube)
        variance = np.where(usable, np.square(cube.err, dtype=float), np.nan)
        data = np.where(usable, cube.data.astype(float), 0.0)
        for number, source in enumerate(sources, start=1):
            radius = self.aperture_radius * source.fwhm
            aperture, correction = aperture_coefficients(white.shape, source, radius)
            psf = psf_image(white.shape, source.x, source.y, source.sigma)
            coefficients = {
                "aperture": np.broadcast_to(aperture, cube.data.shape) * usable,
                "psf": psf_coefficients(psf, variance, usable),
            }
            flux, flux_err = {}, {}
            for method, c in coefficients.items():
                flux[method] = np.sum(c * data, axis=(1, 2)) * spaxel_sr * JY_PER_MJY
                if combination is None:
                    var = np.nansum(c**2 * variance, axis=(1, 2))
                else:
                    var = linear_combination_variance(c, combination.drizzle_map, combination.variances,
                                                      combination.goods, combination.flat_errors,
                                                      combination.flat_groups)  # fmt: skip
                flux_err[method] = np.sqrt(var) * spaxel_sr * JY_PER_MJY
            inside = aperture > 0
            missing = np.any(~usable[:, inside], axis=1)
            npixels = float(aperture.sum())
            ra, dec = geometry.pixel_to_world(source.x, source.y)
            spectra.spec.append(self._spectrum(cube.wavelength, flux, flux_err, correction, npixels, missing, number,
                                               source, float(ra), float(dec), spaxel_sr))  # fmt: skip
            self.sources.add_row((number, source.x, source.y, float(ra), float(dec), source.fwhm, source.snr))
            log.info("%s: source %d at (%.2f, %.2f), FWHM %.2f spaxels, aperture correction %.3f", name, number,
                     source.x, source.y, source.fwhm, correction)  # fmt: skip
        spectra.meta.extraction.aperture_radius = float(self.aperture_radius * sources[0].fwhm)
        return spectra

    def _spectrum(self, wave, flux, flux_err, correction, npixels, missing, number, source, ra, dec, spaxel_sr):
        table = np.zeros(wave.size, dtype=SPECTRUM_DTYPE)
        table["WAVELENGTH"] = wave
        table["FLUX"], table["FLUX_ERROR"] = flux[self.method], flux_err[self.method]
        for method, column in (("aperture", "FLUX_APERTURE"), ("psf", "FLUX_PSF")):
            table[column], table[f"{column}_ERROR"] = flux[method], flux_err[method]
        area_sr = npixels * spaxel_sr * correction
        table["SURF_BRIGHT"] = flux[self.method] / JY_PER_MJY / area_sr
        table["SB_ERROR"] = flux_err[self.method] / JY_PER_MJY / area_sr
        table["DQ"] = np.where(missing, DO_NOT_USE, np.uint32(0))
        table["NPIXELS"] = npixels
        table["APCORR"] = correction
        spectrum = datamodels.MultiSpecModel().spec.item()
        spectrum.spec_table = table
        for column, unit in SPECTRUM_UNITS.items():
            spectrum.spec_table.columns[column].unit = unit
        spectrum.source_id = number
        spectrum.source_ra, spectrum.source_dec = ra, dec
        spectrum.source_x, spectrum.source_y = source.x, source.y
        spectrum.fwhm = source.fwhm
        return spectrum


SPECTRUM_UNITS = {
    "WAVELENGTH": "um", "FLUX": "Jy", "FLUX_ERROR": "Jy", "SURF_BRIGHT": "MJy/sr", "SB_ERROR": "MJy/sr",
    "BACKGROUND": "MJy/sr", "FLUX_APERTURE": "Jy", "FLUX_APERTURE_ERROR": "Jy", "FLUX_PSF": "Jy",
    "FLUX_PSF_ERROR": "Jy",
}  # fmt: skip
SPECTRUM_DTYPE = [(name, np.float64) for name in ("WAVELENGTH", "FLUX", "FLUX_ERROR", "SURF_BRIGHT", "SB_ERROR")] + [
    ("DQ", np.uint32)] + [(name, np.float64) for name in ("BACKGROUND", "NPIXELS", "APCORR", "FLUX_APERTURE",
                                                         "FLUX_APERTURE_ERROR", "FLUX_PSF", "FLUX_PSF_ERROR")]  # fmt: skip
