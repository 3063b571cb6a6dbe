"""citebench: hardware-in-the-loop test bench for prototype connected objects."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("citebench")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+checkout"
