"""throttle-probe: measure whether a network throttles or blocks platforms."""

__version__ = "0.1.0"
