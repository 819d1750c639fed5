"""Quick-look web viewer: ``iris-pipeline view FOLDER`` serves a page that follows a night as it is reduced.

`ViewerServer` runs a Bokeh server (Tornado) for the products under a folder: the night log,
images (four detectors in their focal-plane layout, rendered server-side for the visible range),
cubes (wavelength slider, spectra), headers and provenance, and downloads. The data logic is in
`iris_pipeline.viewer.data` (pure, testable without a browser). See docs/quicklook.md.
"""

from .server import ViewerServer, serve

__all__ = ["ViewerServer", "serve"]
