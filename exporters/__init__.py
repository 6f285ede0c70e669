"""Prometheus exporters for small AI-agent SaaS platforms (see README.md and docs/)."""

__version__ = "0.1.0"
