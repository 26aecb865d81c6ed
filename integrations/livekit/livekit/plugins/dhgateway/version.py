"""The plugin's version (the distribution's, read by its build)."""

__version__ = "0.1.0"
