"""iris-pipeline: data reduction for the IRIS (TMT) and Liger (Keck) imagers and IFS.

Importing the package itself is cheap; subpackages load what they need
(``iris_pipeline.simulate`` needs only numpy, scipy, astropy and PyYAML).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("iris-pipeline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0.dev0"
