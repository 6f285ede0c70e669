"""Dashboard UIDs, written once: the boards are built with them and alerts point at their panels."""

OVERVIEW = "lookout-overview"
WORKER_POOLS = "lookout-worker-pools"
CELERY = "lookout-celery"
BILLING = "lookout-billing"
LLM = "lookout-llm"
MARKETPLACE_SLA = "lookout-marketplace-sla"
CAPACITY = "lookout-capacity"
HTTP_SLO = "lookout-http-slo"
HOST = "lookout-host"
DB_OPS = "lookout-db-ops"
DATASOURCE = "prometheus"  # uid of the provisioned Prometheus datasource in Grafana
