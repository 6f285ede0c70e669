"""The lookout stack run natively: Debian's Prometheus and two clustered Alertmanagers, the standard
exporters from Debian's packages, our exporter, the demo, and a webhook receiver standing in for the
pager, all as plain processes on free loopback ports. ``python -m lookout.stack up``; see docs/install.md."""
