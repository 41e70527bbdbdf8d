"""The helgenom version (recorded in provenance)."""

__version__ = "0.1.0"
