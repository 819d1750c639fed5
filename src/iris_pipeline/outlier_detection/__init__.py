"""Outlier (cosmic-ray residual) detection in dithered images (stage 3 imaging)."""

from .outlier_detection_step import OutlierDetectionStep
from .outliers import OutlierResult, blot, detect_outliers, median_image

__all__ = ["OutlierDetectionStep", "OutlierResult", "blot", "detect_outliers", "median_image"]
