"""Monitoring as code: ``catalog`` declares every signal, threshold, SLO and alert once; ``generate``
writes the dashboards, Prometheus rules and tests, Alertmanager configuration and runbooks from it."""
