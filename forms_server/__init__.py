"""forms-server: YAML-defined survey and intake forms for field outreach."""

__version__ = "0.1.0"
