"""opscopilot: a terminal operations copilot."""

__version__ = "0.1.0"
