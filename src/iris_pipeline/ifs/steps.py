"""The stage-2 IFS steps: extract -> wavecal -> ifs_flat -> sky_subtraction -> cube_build.

Each step opens its input, fetches its reference file (the store chooses it by mode, plate scale,
resolving power and grating), calls the array algorithm of this package and records
provenance. Between steps the exposure travels as an ``IFSSpectraModel`` (one row per spaxel, one
column per detector column); ``cube_build`` makes the ``IFUCubeModel``. See ``docs/ifs.md``.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import datamodels, dqflags
from ..assign_wcs.assign_wcs_step import add_header_cards
from ..exceptions import InputFileError, ReferenceFileError
from ..quicklook import white_light_image
from ..stpipe import IrisStep
from ..stpipe.base import NOT_APPLICABLE
from .cube import (
    SURFACE_BRIGHTNESS_UNIT,
    build_cube,
    cube_fits_wcs,
    cube_gwcs,
    cube_wavelength_grid,
    mjy_sr_per_w_m2_um,
    resample_spectra,
    spaxel_solid_angle_sr,
)
from .extract import extract_spectra
from .flat import divide_by_flat, flat_relative_variance
from .format import SpectralFormat
from .lines import oh_line_list
from .sky import subtract_sky
from .telluric import correct_telluric, standard_spectrum, telluric_transmission

__all__ = [
    "CubeBuildStep",
    "ExtractIFSStep",
    "IFSFlatStep",
    "IFSStep",
    "SkySubtractionStep",
    "TelluricStep",
    "WavecalStep",
    "spectra_model",
]

log = logging.getLogger(__name__)

DO_NOT_USE = np.uint32(dqflags.PIXEL["DO_NOT_USE"])
IFS_MODES = ("LENSLET", "SLICER")


class IFSStep(IrisStep):
    """Base of the IFS steps: IFS references are chosen by the exposure's IFS configuration too.

    A step that finds nothing to do (no reference, no sky, no standard) calls `skipped`, and its
    status is recorded as SKIPPED rather than COMPLETE.
    """

    def skipped(self, model, reason: str):
        """Leave ``model`` unchanged by this step and record why."""
        self.record_outcome("SKIPPED", reason)
        return model

    def optional_reference(self, model, reference_file_type) -> str | None:
        """Path of a reference, or None when the store has none for this configuration (or N/A)."""
        try:
            path = self.get_reference_file(model, reference_file_type)
        except ReferenceFileError as err:
            log.warning("%s: %s", self.class_alias, err)
            return None
        return None if path == NOT_APPLICABLE else path

    def open_spectra(self, step_input) -> datamodels.IFSSpectraModel:
        """Open the input as extracted spectra, or fail with a one-line error."""
        model = datamodels.open(step_input)
        if not isinstance(model, datamodels.IFSSpectraModel):
            raise InputFileError(
                model.meta.filename, f"{self.class_alias} needs IFS spectra, not {model.meta.model_type}; run extract"
            )
        return model


def spectral_format_of(spectra: datamodels.IFSSpectraModel) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength and dispersion arrays of extracted spectra, and where data are valid."""
    valid = np.isfinite(spectra.data) & ((spectra.dq & DO_NOT_USE) == 0)
    return spectra.wavelength, valid


class ExtractIFSStep(IFSStep):
    """Extract the spectrum of every spaxel from a count-rate image (optimal extraction or deblending)."""

    class_alias = "extract"
    spec = """
    method = option('auto', 'optimal', 'deblend', default='auto')  # auto = deblend: neighbours' profiles fitted jointly
    bandwidth = integer(default=2, min=1)  # neighbours on each side solved jointly when deblending
    """  # noqa: E501
    reference_file_types = ["ifs_trace"]

    def process(self, step_input):
        rate = datamodels.open(step_input)
        name = rate.meta.filename
        if not isinstance(rate, datamodels.RateModel):
            raise InputFileError(name, f"extract needs a RateModel, not {rate.meta.model_type}; run detector1 first")
        mode = (rate.meta.instrument.ifs_mode or "").upper()
        if mode not in IFS_MODES:
            raise InputFileError(name, f"IFSMODE {mode or 'missing'}: not an IFS exposure (LENSLET or SLICER)")
        spectral_format = self.spectral_format(rate)
        method, bandwidth = self.joint_bandwidth()
        variance = rate.var_poisson + rate.var_rnoise
        if not np.any(variance > 0):
            variance = np.square(rate.err)
        bad = (rate.dq & DO_NOT_USE) != 0
        x0, y0 = (rate.meta.subarray.xstart or 1) - 1, (rate.meta.subarray.ystart or 1) - 1
        flux, var, valid = extract_spectra(rate.data, variance, bad, spectral_format, x0, y0, bandwidth)
        if not valid.any():
            raise InputFileError(name, "no spectrum of the IFS trace reference falls inside this detector window")
        log.info("%s: %s extraction of %d spectra (%d columns each)", name, method, *flux.shape)
        spectra = spectra_model(rate, spectral_format, flux, var, valid)
        return spectra

    def spectral_format(self, rate) -> SpectralFormat:
        """The spectral format of the IFS_TRACE reference of ``rate``'s configuration."""
        with datamodels.IFSTraceModel(self.get_reference_file(rate, "ifs_trace")) as trace:
            return SpectralFormat.from_model(trace)

    def joint_bandwidth(self) -> tuple[str, int]:
        """The extraction method and the neighbours on each side fitted jointly (0: Horne's estimator)."""
        # Slicer spectra overlap their neighbours along the slice at the percent level, lenslet spectra
        # by far more: both are fitted jointly with their neighbours unless Horne's estimator is asked for.
        method = "deblend" if self.method == "auto" else self.method
        return method, (self.bandwidth if method == "deblend" else 0)


def spectra_model(source, spectral_format: SpectralFormat, flux, var, valid) -> datamodels.IFSSpectraModel:
    """An ``IFSSpectraModel`` of extracted spectra, with the metadata of ``source``."""
    spectra = datamodels.IFSSpectraModel(flux.shape)
    spectra.update(source, only="PRIMARY")
    spectra.meta.filename = source.meta.filename
    x, inside = spectral_format.columns()
    valid = valid & inside
    spectra.data = np.where(valid, flux, np.nan).astype(np.float32)
    spectra.err = np.where(valid, np.sqrt(np.where(valid, var, 0.0)), np.nan).astype(np.float32)
    spectra.dq = np.where(valid, np.uint32(0), DO_NOT_USE).astype(np.uint32)
    spectra.wavelength = spectral_format.wavelength_um(x)
    spectra.dispersion = spectral_format.dispersion_um_per_pix(x)
    spectra.spaxel_table = np.rec.fromarrays(
        [spectral_format.spax_x.astype(np.int16), spectral_format.spax_y.astype(np.int16),
         spectral_format.x_start.astype(np.int32)], names=("SPAX_X", "SPAX_Y", "X_START"),
    )  # fmt: skip
    info = spectra.meta.ifs_format
    info.nspax_x, info.nspax_y = spectral_format.nspax_x, spectral_format.nspax_y
    info.wave_min, info.wave_max = spectral_format.wave_min_um, spectral_format.wave_max_um
    return spectra


class WavecalStep(IFSStep):
    """Assign the measured wavelength solution (IFS_WAVECAL) to every column of every spectrum."""

    class_alias = "wavecal"
    reference_file_types = ["ifs_wavecal"]

    def process(self, step_input):
        spectra = self.open_spectra(step_input)
        path = self.optional_reference(spectra, "ifs_wavecal")
        if path is None:
            return self.skipped(spectra, "no wavelength solution; the trace's nominal wavelengths are kept")
        with datamodels.IFSWavecalModel(path) as wavecal:
            table = wavecal.wavecal_table
            if len(table) != spectra.data.shape[0]:
                raise ReferenceFileError(f"{path}: {len(table)} spaxels, the spectra have {spectra.data.shape[0]}")
            x_start = np.asarray(spectra.spaxel_table["X_START"], dtype=np.float64)
            x = x_start[:, None] + np.arange(spectra.data.shape[1])[None, :]
            u = x - np.asarray(table["X_REF"], dtype=np.float64)[:, None]
            coeffs = [np.asarray(table[f"WAVE_C{k}"], dtype=np.float64)[:, None] for k in range(4)]
        spectra.wavelength = coeffs[0] + u * (coeffs[1] + u * (coeffs[2] + u * coeffs[3]))
        spectra.dispersion = coeffs[1] + u * (2.0 * coeffs[2] + 3.0 * u * coeffs[3])
        return spectra


class IFSFlatStep(IFSStep):
    """Divide every spectrum by its relative spectral response (IFS_FLAT); the flat's error goes to ERR and VAR_FLAT."""

    class_alias = "ifs_flat"
    reference_file_types = ["ifs_flat"]

    def process(self, step_input):
        spectra = self.open_spectra(step_input)
        path = self.optional_reference(spectra, "ifs_flat")
        if path is None:
            return self.skipped(spectra, "no spectral flat")
        with datamodels.IFSFlatModel(path) as flat:
            if flat.data.shape != spectra.data.shape:
                raise ReferenceFileError(f"{path}: shape {flat.data.shape}, the spectra have {spectra.data.shape}")
            response = flat.data.astype(np.float64)
            response_err = flat.err.astype(np.float64)
            bad_flat = ~np.isfinite(response) | (response <= 0) | ((flat.dq & DO_NOT_USE) != 0)
        flux, var, var_flat = divide_by_flat(spectra.data.astype(np.float64), np.square(spectra.err, dtype=np.float64),
                                             response, response_err, bad_flat)  # fmt: skip
        spectra.data = flux.astype(np.float32)
        spectra.err = np.sqrt(var).astype(np.float32)
        spectra.var_flat = var_flat.astype(np.float32)
        spectra.dq = spectra.dq | np.where(bad_flat, DO_NOT_USE, np.uint32(0))
        return spectra


class SkySubtractionStep(IFSStep):
    """Subtract the spectra of a sky exposure, scaling its OH lines to the science exposure."""

    class_alias = "sky_subtraction"
    spec = """
    scale_oh = boolean(default=True)  # scale the sky's OH lines to the science exposure (Davies 2007)
    """  # noqa: E501

    def process(self, step_input, sky=None):
        spectra = self.open_spectra(step_input)
        if sky is None:
            return self.skipped(spectra, "no sky exposure")
        sky = self.open_spectra(sky)
        if sky.data.shape != spectra.data.shape:
            raise InputFileError(sky.meta.filename, f"sky spectra {sky.data.shape} differ from {spectra.data.shape}")
        _, valid = spectral_format_of(spectra)
        _, sky_valid = spectral_format_of(sky)
        # Science and sky were divided by the same flat: its error multiplies their difference, so it
        # is taken out of both variances and put back on the result.
        science, science_var_flat = spectra.data.astype(float), spectra.var_flat.astype(float)
        relative_var_flat = flat_relative_variance(science, science_var_flat)
        flux, var, good, alpha = subtract_sky(
            science, np.square(spectra.err, dtype=float) - science_var_flat, valid, sky.data.astype(float),
            np.square(sky.err, dtype=float) - sky.var_flat.astype(float), sky_valid, spectra.wavelength,
            oh_line_list(), spectra.meta.instrument.resolving_power, self.scale_oh,
        )  # fmt: skip
        log.info("%s: sky %s subtracted, OH lines scaled by %.4f", spectra.meta.filename, sky.meta.filename, alpha)
        var_flat = np.square(flux) * relative_var_flat
        spectra.data = flux.astype(np.float32)
        spectra.err = np.sqrt(var + var_flat).astype(np.float32)
        spectra.var_flat = var_flat.astype(np.float32)
        spectra.dq = spectra.dq | np.where(good, np.uint32(0), DO_NOT_USE)
        spectra.meta.oh_scale = alpha
        return spectra


class CubeBuildStep(IFSStep):
    """Resample the spectra onto a common wavelength grid, flux-calibrate, and build the cube."""

    class_alias = "cube_build"
    spec = """
    wave_range = float_list(min=2, max=2, default=None)  # cube wavelength range (um), inside the grating band
    """  # noqa: E501
    reference_file_types = ["ifs_photom"]

    def process(self, step_input):
        spectra = self.open_spectra(step_input)
        name = spectra.meta.filename
        wave, valid = spectral_format_of(spectra)
        info, instrument = spectra.meta.ifs_format, spectra.meta.instrument
        try:
            grid = cube_wavelength_grid(wave, valid, (info.wave_min, info.wave_max), instrument.resolving_power,
                                        tuple(self.wave_range) if self.wave_range else None)  # fmt: skip
        except ValueError as err:
            raise InputFileError(name, f"{err} ({instrument.filter} grating)") from None
        density, density_var, defined = resample_spectra(
            spectra.data.astype(float), np.square(spectra.err, dtype=float), valid, wave, spectra.dispersion, grid
        )
        _, density_var_flat, _ = resample_spectra(
            spectra.data.astype(float), spectra.var_flat.astype(float), valid, wave, spectra.dispersion, grid
        )
        unit = "DN/s/um"
        path = self.optional_reference(spectra, "ifs_photom")
        if path is not None:
            with datamodels.IFSPhotomModel(path) as photom:
                table = photom.photom_table
                conversion = np.interp(grid, table["WAVELENGTH"], table["CONVERSION"], left=np.nan, right=np.nan)
                unit = photom.meta.flux_unit or unit
            density = density * conversion[None, :]
            density_var = density_var * conversion[None, :] ** 2
            density_var_flat = density_var_flat * conversion[None, :] ** 2
        scale = instrument.ifs_scale
        if unit == FLUX_DENSITY_UNIT:
            to_surface_brightness = mjy_sr_per_w_m2_um(grid, scale)
            density = density * to_surface_brightness[None, :]
            density_var = density_var * to_surface_brightness[None, :] ** 2
            density_var_flat = density_var_flat * to_surface_brightness[None, :] ** 2
            unit = SURFACE_BRIGHTNESS_UNIT
        else:
            log.warning("%s: cube left in %s (no IFS_PHOTOM in %s)", name, unit, FLUX_DENSITY_UNIT)
        spax = spectra.spaxel_table
        sx, sy = np.asarray(spax["SPAX_X"], dtype=int), np.asarray(spax["SPAX_Y"], dtype=int)
        cube = datamodels.IFUCubeModel((grid.size, info.nspax_y, info.nspax_x))
        cube.update(spectra, only="PRIMARY")
        cube.data = build_cube(density, sx, sy, info.nspax_x, info.nspax_y)
        cube.err = np.sqrt(build_cube(density_var, sx, sy, info.nspax_x, info.nspax_y))
        cube.var_flat = build_cube(density_var_flat, sx, sy, info.nspax_x, info.nspax_y)
        cube.dq = np.where(np.isfinite(cube.data), np.uint32(0), DO_NOT_USE).astype(np.uint32)
        cube.wavelength = grid.astype(np.float32)
        cube.white_light = white_light_image(cube.data, cube.dq)
        cube.meta.bunit_data = unit
        cube.meta.bunit_err = unit
        pointing = spectra.meta.pointing
        ra, dec, pa = (getattr(pointing, key, None) or 0.0 for key in ("ra_ref", "dec_ref", "pa_aper"))
        cube.meta.wcs = cube_gwcs(cube.data.shape, scale, ra, dec, pa, grid)
        add_cube_header_cards(cube, cube_fits_wcs(cube.data.shape, scale, ra, dec, pa, grid), scale)
        cube.meta.filename = name
        return cube


FLUX_DENSITY_UNIT = "W m-2 um-1"
"""Unit of IFS_PHOTOM conversions that cube_build turns into surface brightness."""


def add_cube_header_cards(cube, wcs_cards, scale_mas: float) -> None:
    """FITS WCS, spaxel solid angle and dispersion axis of a cube, where FITS readers look for them.

    ``DISPAXIS = 3`` (primary and SCI headers) names the FITS axis along which wavelength runs, as
    JWST spectroscopic products do; generic FITS spectrum readers (specutils' ``wcs1d-fits``) and
    jdaviz's Cubeviz (which looks in the flux extension) identify the cube by it. ``PIXAR_SR`` (SCI
    header) is the spaxel's solid angle.
    """
    dispersion_axis = ("DISPAXIS", 3, "dispersion axis: FITS axis 3 (wavelength)")
    add_header_cards(cube, "SCI", [*wcs_cards, dispersion_axis,
                                   ("PIXAR_SR", spaxel_solid_angle_sr(scale_mas), "[sr] spaxel solid angle")])  # fmt: skip
    add_header_cards(cube, "PRIMARY", [dispersion_axis])


class TelluricStep(IFSStep):
    """Divide a cube by the atmospheric transmission measured on a standard-star cube."""

    class_alias = "telluric"
    spec = """
    standard = string(default=None)  # standard-star cube (_s3d.fits, same configuration); none: step skipped
    degree = integer(default=3, min=1)  # polynomial degree of the standard's continuum
    min_transmission = float(default=0.2, min=0)  # planes with less transmission are flagged, not amplified
    """  # noqa: E501

    def process(self, step_input):
        cube = datamodels.open(step_input)
        if not isinstance(cube, datamodels.IFUCubeModel):
            raise InputFileError(cube.meta.filename, f"telluric needs a cube, not {cube.meta.model_type}")
        if not self.standard:
            return self.skipped(cube, "no standard-star cube")
        standard = datamodels.open(self.standard)
        if not isinstance(standard, datamodels.IFUCubeModel):
            raise InputFileError(self.standard, f"telluric standard must be a cube, not {standard.meta.model_type}")
        wave = cube.wavelength.astype(float)
        standard_wave = standard.wavelength.astype(float)
        if wave[0] < standard_wave[0] - 1e-6 or wave[-1] > standard_wave[-1] + 1e-6:
            raise InputFileError(self.standard, "the standard's wavelengths do not cover the cube's")
        try:
            transmission = telluric_transmission(standard_wave, standard_spectrum(standard.data), self.degree)
        except ValueError as err:
            raise InputFileError(self.standard, str(err)) from None
        transmission = np.interp(wave, standard_wave, transmission)
        data, err, bad = correct_telluric(cube.data, cube.err, transmission, self.min_transmission)
        _, flat_err, _ = correct_telluric(cube.data, np.sqrt(cube.var_flat), transmission, self.min_transmission)
        cube.data = data.astype(np.float32)
        cube.err = err.astype(np.float32)
        cube.var_flat = np.square(flat_err).astype(np.float32)
        cube.dq = cube.dq | np.where(bad, DO_NOT_USE, np.uint32(0))[:, None, None]
        cube.white_light = white_light_image(cube.data, cube.dq)
        log.info("%s: telluric correction from %s", cube.meta.filename, standard.meta.filename)
        return cube
