"""Integration mid-times of a time series, in MJD (UTC) and BJD (TDB).

Mid-time of integration ``i`` (0-based)::

    t_i = EXPSTART + (i + 0.5) * (EXPEND - EXPSTART) / NINTS

the integrations being read back to back, resets included, between the exposure start and end
(MJD UTC keywords). Without ``EXPEND`` the integration period is ``(NREADS + 1) * TFRAME`` (one
reset frame per integration, as the detectors are read). This is the middle of each integration's
wall-clock span; the photon-weighted middle of an up-the-ramp fit differs from it by half a reset
frame (under 0.4 s for a full frame, milliseconds for a subarray).

BJD_TDB = the mid-time in TDB plus the light travel time from the observatory to the solar-system
barycentre in the direction of the target (`astropy.time.Time.light_travel_time`, ERFA's built-in
ephemeris, ~ms accuracy). The observatory is the instrument's site in ``data/instruments.yaml``
(TMT Maunakea 13N for IRIS, Keck for Liger): the site's 4000 km from the geocentre changes the
correction by at most ~21 ms. For dates after the bundled IERS table the polar motion defaults to
its mean (an arcsecond, i.e. < 1 us here) and no table is downloaded; for dates after the
leap-second table (simulated 2030s observations) no further leap second is assumed, so UTC-based
times of such dates may be off by the leap seconds announced later (whole seconds).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["integration_mid_times_mjd", "mjd_utc_to_bjd_tdb"]

SECONDS_PER_DAY = 86400.0


def integration_mid_times_mjd(nints: int, start_mjd: float, end_mjd: float | None = None,
                              nreads: int | None = None, frame_time_s: float | None = None) -> np.ndarray:  # fmt: skip
    """Mid-time (MJD UTC) of every integration (module docstring).

    Raises
    ------
    ValueError
        No start time, or neither the end time nor the read pattern.
    """
    if start_mjd is None or not np.isfinite(start_mjd):
        raise ValueError("no exposure start time (EXPSTART)")
    if end_mjd is not None and np.isfinite(end_mjd) and end_mjd > start_mjd:
        period = (end_mjd - start_mjd) / nints
    elif nreads and frame_time_s:
        period = (nreads + 1) * frame_time_s / SECONDS_PER_DAY
    else:
        raise ValueError("no exposure end (EXPEND) nor read pattern (NREADS, TFRAME) to time the integrations")
    return start_mjd + (np.arange(nints) + 0.5) * period


def mjd_utc_to_bjd_tdb(mjd_utc, ra_deg: float, dec_deg: float, site: dict | None) -> np.ndarray:
    """Barycentric Julian Date (TDB) of UTC MJDs for a target at ``ra_deg, dec_deg`` (ICRS).

    ``site``: ``latitude_deg``, ``longitude_deg`` (East positive), ``height_m`` of the observatory;
    None puts the observer at the geocentre.
    """
    import astropy.units as u
    from astropy.coordinates import EarthLocation, SkyCoord
    from astropy.time import Time
    from astropy.utils import iers

    location = None
    if site is not None:
        location = EarthLocation.from_geodetic(site["longitude_deg"] * u.deg, site["latitude_deg"] * u.deg,
                                               site["height_m"] * u.m)  # fmt: skip
    # No download, and no refusal of the bundled predictions for being older than 30 days (a
    # ValueError from IERS_Auto once the installed table ages, whatever the observation's date).
    with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None), \
            warnings.catch_warnings():  # fmt: skip
        # Dates past the bundled IERS table: mean polar motion (arcsecond level: < 1 us here);
        # past the leap-second table ("dubious year"): no leap second after its last one.
        warnings.filterwarnings("ignore", message=".*(IERS|polar motion|dubious year).*")
        times = Time(np.asarray(mjd_utc, float), format="mjd", scale="utc", location=location)
        target = SkyCoord(ra_deg * u.deg, dec_deg * u.deg, frame="icrs")
        delay = times.light_travel_time(target, kind="barycentric", ephemeris="builtin")
        return (times.tdb + delay).jd
