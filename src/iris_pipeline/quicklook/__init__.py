"""Quick-look previews (PNG) and run summaries (HTML, text) of pipeline products.

Previews: `write_image_preview` (one exposure's detectors in their focal-plane layout),
`write_cube_preview` (IFS white-light image and brightest-spaxel spectrum), `write_mosaic_preview`
(resampled mosaic with catalog markers). Summaries: `summarize_product` and `write_run_summary`.
`white_light_image` is the pure-array collapse of a cube. See docs/quicklook.md.
"""

from .arrays import brightest_spaxel, white_light_image
from .previews import write_cube_preview, write_image_preview, write_mosaic_preview
from .summary import summarize_product, write_run_summary

__all__ = [
    "brightest_spaxel",
    "summarize_product",
    "white_light_image",
    "write_cube_preview",
    "write_image_preview",
    "write_mosaic_preview",
    "write_run_summary",
]
