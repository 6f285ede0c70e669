"""One module per component; each publishes ``RECORDINGS`` and ``ALERTS``."""
