"""The integral field spectrograph, pipeline side: spectral format, extraction, sky, cubes, calibrations.

Pure-array algorithms (`SpectralFormat`, `extract_spectra`, `subtract_sky`, `resample_spectra`,
`build_cube`, `fit_wavelength_solution`, `spectral_flat`, `measure_traces`) and the thin stpipe
steps of ``spec2`` (`ExtractIFSStep`, `WavecalStep`, `IFSFlatStep`, `SkySubtractionStep`,
`CubeBuildStep`), and of ``spec3`` (`CubeAlignStep`, `CubeSkyMatchStep`, `CubeOutlierDetectionStep`,
`CubeCombineStep`, `IFSExtract1DStep`; algorithms in ``combine`` and ``point_source``). See
``docs/ifs.md``.
"""

from .cube import build_cube, cube_fits_wcs, cube_gwcs, cube_wavelength_grid, resample_spectra
from .extract import extract_spectra, model_image
from .format import SpectralFormat
from .lines import arc_line_list, oh_line_list
from .sky import subtract_sky
from .spec3_steps import (
    CubeAlignStep,
    CubeCombineStep,
    CubeOutlierDetectionStep,
    CubeSkyMatchStep,
    IFSExtract1DStep,
)
from .steps import CubeBuildStep, ExtractIFSStep, IFSFlatStep, IFSStep, SkySubtractionStep, TelluricStep, WavecalStep

__all__ = [
    "CubeAlignStep",
    "CubeBuildStep",
    "CubeCombineStep",
    "CubeOutlierDetectionStep",
    "CubeSkyMatchStep",
    "IFSExtract1DStep",
    "ExtractIFSStep",
    "IFSFlatStep",
    "IFSStep",
    "SkySubtractionStep",
    "SpectralFormat",
    "TelluricStep",
    "WavecalStep",
    "arc_line_list",
    "build_cube",
    "cube_fits_wcs",
    "cube_gwcs",
    "cube_wavelength_grid",
    "extract_spectra",
    "model_image",
    "oh_line_list",
    "resample_spectra",
    "subtract_sky",
]
