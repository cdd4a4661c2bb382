"""The installed distribution's version, read once from its metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "infrastrukturmonitor"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0.0.0+unknown"
