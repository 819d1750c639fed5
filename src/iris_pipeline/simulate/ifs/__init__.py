"""Simulator of the IRIS integral field spectrograph (lenslet and slicer modes).

`IFSConfiguration` chooses a mode, grating, resolving power, plate scale, field and detector
window; `nominal_format` gives the truth spectral format (trace, dispersion, profile of every
spaxel); `scene_spectra`, `column_signal_dn_s` and `disperse` turn a scene into a detector image;
`simulate_ifs_observation` writes science, sky and calibration exposures with truth references and
tables. See ``docs/ifs.md``.
"""

from .format import IFSConfiguration, nominal_format, spaxel_order
from .observation import IFSSimulation, cube_wavelengths, simulate_ifs_observation, write_rate, write_trace_reference
from .scene import (
    IFSScene,
    SpaxelSpectra,
    arc_line_list,
    column_signal_dn_s,
    column_wavelengths,
    disperse,
    dn_s_per_flux,
    oh_line_list,
    scene_spectra,
    spaxel_throughputs,
    system_throughput,
    telluric_transmission,
)

__all__ = [
    "IFSConfiguration",
    "IFSScene",
    "IFSSimulation",
    "SpaxelSpectra",
    "arc_line_list",
    "column_signal_dn_s",
    "column_wavelengths",
    "cube_wavelengths",
    "disperse",
    "dn_s_per_flux",
    "nominal_format",
    "oh_line_list",
    "scene_spectra",
    "simulate_ifs_observation",
    "spaxel_order",
    "spaxel_throughputs",
    "system_throughput",
    "telluric_transmission",
    "write_rate",
    "write_trace_reference",
]
