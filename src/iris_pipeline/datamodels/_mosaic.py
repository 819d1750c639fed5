"""`MosaicModel`: the resampled image of stage 3 (``*_i2d.fits``)."""

from __future__ import annotations

from ._base import IrisDataModel

__all__ = ["MosaicModel"]


class MosaicModel(IrisDataModel):
    """Drizzled image of one or more exposures on a distortion-free TAN grid.

    SCI (MJy/sr), ERR, WHT (drizzle weight), CON (context: which inputs contributed),
    the resampled variances, the exact FITS WCS of the grid in the SCI header
    (``meta.wcsinfo``) and the same WCS as a gwcs object (``meta.wcs``).
    """

    schema_name = "mosaic"

    def image_array_names(self) -> list[str]:
        """The 2-D arrays created with SCI; the context cube's depth depends on the number of inputs."""
        return [name for name in super().image_array_names() if name != "con"]
