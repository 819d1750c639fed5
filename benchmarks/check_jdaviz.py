"""Open the pipeline's products in jdaviz, as an astronomer would (issues 11 and 16).

- Cubeviz: a ``_s3d`` cube loaded from its path (flux, uncertainty, DQ, and the extracted spectrum).
- Specviz: a ``_x1d`` spectrum.
- Imviz: a mosaic (``_i2d``) and a calibrated exposure (``_cal``), aligned by WCS with the mosaic as
  reference.

jdaviz is not a dependency of the package (it is large); install it in a separate environment::

    python3 -m venv /tmp/jdv && /tmp/jdv/bin/pip install jdaviz
    .venv/bin/iris-pipeline demo --output-dir demo_output
    /tmp/jdv/bin/python benchmarks/check_jdaviz.py \\
        --cube demo_output/products/lenslet/iris_p001_simulated_k_lenslet_4.0_4000_s3d.fits \\
        --spectrum demo_output/products/lenslet/iris_p001_simulated_k_lenslet_4.0_4000_x1d.fits \\
        --mosaic demo_output/products/imager/iris_p001_simulated-field_kbb_i2d.fits \\
        --cal demo_output/products/imager/iris_p001_o001_e001_img1_cal.fits

Prints what each viewer loaded; exits 1 at the first product a viewer refuses.
"""

from __future__ import annotations

import argparse
import warnings


def check_cube(path: str) -> None:
    from jdaviz import Cubeviz

    cubeviz = Cubeviz()
    cubeviz.load_data(path)
    labels = [data.label for data in cubeviz.app.data_collection]
    spectrum = cubeviz.get_data(labels[0])
    uncertainty = type(spectrum.uncertainty).__name__ if spectrum.uncertainty is not None else "none"
    print(f"Cubeviz: {labels}; flux {spectrum.shape} {spectrum.unit}, uncertainty {uncertainty}, "
          f"wavelength {spectrum.spectral_axis[0]:.4f} to {spectrum.spectral_axis[-1]:.4f}")  # fmt: skip


def check_spectrum(path: str) -> None:
    from jdaviz import Specviz

    specviz = Specviz()
    specviz.load_data(path)
    labels = [data.label for data in specviz.app.data_collection]
    spectrum = specviz.get_data(labels[0])
    print(f"Specviz: {labels}; flux {spectrum.shape} {spectrum.flux.unit}, uncertainty "
          f"{type(spectrum.uncertainty).__name__}, wavelength from {spectrum.spectral_axis[0]:.4f}")  # fmt: skip


def check_mosaic(mosaic: str, cal: str) -> None:
    from jdaviz import Imviz

    imviz = Imviz()
    imviz.load_data(mosaic, data_label="mosaic")
    imviz.load_data(cal, data_label="cal")
    orientation = imviz.plugins["Orientation"]
    orientation.align_by = "WCS"
    labels = [data.label for data in imviz.app.data_collection]
    print(f"Imviz: {labels}, aligned by {orientation.align_by.selected} (reference: the mosaic, loaded first)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cube", help="an _s3d.fits cube")
    parser.add_argument("--spectrum", help="an _x1d.fits spectrum")
    parser.add_argument("--mosaic", help="an _i2d.fits mosaic")
    parser.add_argument("--cal", help="a _cal.fits exposure inside the mosaic")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    try:
        if args.cube:
            check_cube(args.cube)
        if args.spectrum:
            check_spectrum(args.spectrum)
        if args.mosaic and args.cal:
            check_mosaic(args.mosaic, args.cal)
    except Exception as error:  # report what the viewer said, in one line
        print(f"jdaviz refused a product: {type(error).__name__}: {str(error).splitlines()[0]}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
