"""Matching reference arrays to the detector window of an exposure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ReferenceFileError

__all__ = ["Window", "reference_cutout"]


@dataclass(frozen=True)
class Window:
    """A detector window: 1-based first column/row (FITS ``SUBSTRT1/2``) and size in pixels."""

    xstart: int
    ystart: int
    xsize: int
    ysize: int

    @classmethod
    def from_model(cls, model, shape) -> Window:
        """The window of a model; a model without subarray keywords covers ``shape`` from (1, 1)."""
        sub = model.meta.subarray
        ny, nx = shape[-2:]
        return cls(sub.xstart or 1, sub.ystart or 1, sub.xsize or nx, sub.ysize or ny)

    @property
    def slices(self) -> tuple[slice, slice]:
        """(row, column) slices of this window in full-frame 0-based arrays."""
        y0, x0 = self.ystart - 1, self.xstart - 1
        return slice(y0, y0 + self.ysize), slice(x0, x0 + self.xsize)


def reference_cutout(ref_array: np.ndarray, ref_window: Window, sci_window: Window, ref_name: str):
    """The part of a reference array that covers the science window.

    Parameters
    ----------
    ref_array : np.ndarray
        Reference array whose last two axes are (rows, columns) of ``ref_window``.
    ref_window, sci_window : Window
        Detector windows of the reference file and of the exposure.
    ref_name : str
        Reference file name, for the error message.

    Returns
    -------
    np.ndarray
        A view of ``ref_array`` with last two axes of shape (sci ysize, sci xsize).

    Raises
    ------
    ReferenceFileError
        The reference does not cover the science window.
    """
    ny, nx = ref_array.shape[-2:]
    if (ny, nx) != (ref_window.ysize, ref_window.xsize):
        raise ReferenceFileError(
            f"{ref_name}: array shape {(ny, nx)} disagrees with its SUBSIZE2/SUBSIZE1 "
            f"{(ref_window.ysize, ref_window.xsize)}"
        )
    y0 = sci_window.ystart - ref_window.ystart
    x0 = sci_window.xstart - ref_window.xstart
    if y0 < 0 or x0 < 0 or y0 + sci_window.ysize > ny or x0 + sci_window.xsize > nx:
        raise ReferenceFileError(
            f"{ref_name}: reference covers rows {ref_window.ystart}-{ref_window.ystart + ny - 1}, "
            f"columns {ref_window.xstart}-{ref_window.xstart + nx - 1}; the exposure needs rows "
            f"{sci_window.ystart}-{sci_window.ystart + sci_window.ysize - 1}, columns "
            f"{sci_window.xstart}-{sci_window.xstart + sci_window.xsize - 1}"
        )
    return ref_array[..., y0 : y0 + sci_window.ysize, x0 : x0 + sci_window.xsize]
