"""The ``stpipe.steps`` entry point: every step and pipeline with its ``strun`` alias."""

from __future__ import annotations

STEP_CLASSES = (
    ("iris_pipeline.dq_init.DQInitStep", "dq_init", False),
    ("iris_pipeline.saturation.SaturationStep", "saturation", False),
    ("iris_pipeline.superbias.SuperBiasStep", "superbias", False),
    ("iris_pipeline.refpix.RefPixStep", "refpix", False),
    ("iris_pipeline.linearity.LinearityStep", "linearity", False),
    ("iris_pipeline.dark_current.DarkCurrentStep", "dark_current", False),
    ("iris_pipeline.jump.JumpStep", "jump", False),
    ("iris_pipeline.ramp_fitting.RampFitStep", "ramp_fit", False),
    ("iris_pipeline.pipelines.Detector1Pipeline", "detector1", True),
    # stage 2 imaging
    ("iris_pipeline.assign_wcs.AssignWcsStep", "assign_wcs", False),
    ("iris_pipeline.flat_field.FlatFieldStep", "flat_field", False),
    ("iris_pipeline.background.BackgroundStep", "background", False),
    ("iris_pipeline.photom.PhotomStep", "photom", False),
    ("iris_pipeline.pipelines.image2.ProcessImagerL2Pipeline", "image2", True),
    # calibration pipelines
    ("iris_pipeline.pipelines.calibration.CreateDarkPipeline", "create_dark", True),
    ("iris_pipeline.pipelines.calibration.CreateFlatPipeline", "create_flat", True),
    ("iris_pipeline.pipelines.calibration.ProcessFlatfieldL2", "preprocess_flatfield", True),
    ("iris_pipeline.pipelines.calibration.CreateMaskPipeline", "create_mask", True),
    # stage 3 imaging
    ("iris_pipeline.tweakreg.TweakRegStep", "tweakreg", False),
    ("iris_pipeline.skymatch.SkyMatchStep", "skymatch", False),
    ("iris_pipeline.outlier_detection.OutlierDetectionStep", "outlier_detection", False),
    ("iris_pipeline.resample.ResampleStep", "resample", False),
    ("iris_pipeline.source_catalog.SourceCatalogStep", "source_catalog", False),
    ("iris_pipeline.pipelines.image3.Image3Pipeline", "image3", True),
    # stage 3 time series
    ("iris_pipeline.tso_photometry.TsoPhotometryStep", "tso_photometry", False),
    ("iris_pipeline.pipelines.tso3.Tso3Pipeline", "tso3", True),
    # IFS
    ("iris_pipeline.ifs.ExtractIFSStep", "extract", False),
    ("iris_pipeline.ifs.WavecalStep", "wavecal", False),
    ("iris_pipeline.ifs.IFSFlatStep", "ifs_flat", False),
    ("iris_pipeline.ifs.SkySubtractionStep", "sky_subtraction", False),
    ("iris_pipeline.ifs.CubeBuildStep", "cube_build", False),
    ("iris_pipeline.ifs.TelluricStep", "telluric", False),
    ("iris_pipeline.pipelines.spec2.Spec2Pipeline", "spec2", True),
    ("iris_pipeline.ifs.CubeAlignStep", "cube_align", False),
    ("iris_pipeline.ifs.CubeSkyMatchStep", "cube_skymatch", False),
    ("iris_pipeline.ifs.CubeOutlierDetectionStep", "cube_outlier_detection", False),
    ("iris_pipeline.ifs.CubeCombineStep", "cube_combine", False),
    ("iris_pipeline.ifs.IFSExtract1DStep", "ifs_extract_1d", False),
    ("iris_pipeline.pipelines.spec3.Spec3Pipeline", "spec3", True),
    ("iris_pipeline.pipelines.ifs_calibration.CreateWavecalPipeline", "create_wavecal", True),
    ("iris_pipeline.pipelines.ifs_calibration.CreateIFSFlatPipeline", "create_ifs_flat", True),
    ("iris_pipeline.pipelines.ifs_calibration.CreateRectmatPipeline", "create_rectmat", True),
)


def get_steps() -> list[tuple[str, str, bool]]:
    """(class path, alias, is pipeline) for every step, as stpipe's entry point requires."""
    return list(STEP_CLASSES)
