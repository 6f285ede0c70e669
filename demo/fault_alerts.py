"""The demo's faults and the alert each must raise (end-to-end tests of issue 8): demo data, not catalog."""

from __future__ import annotations

from lookout.monitoring.model import FaultExpectation

FAULT_ALERTS: dict[str, FaultExpectation] = {
    "drop-end-webhooks": FaultExpectation("ElevenLabsEndEventsMissing", "ticket", ("CreditsNotCharged",)),
    "wrong-charges": FaultExpectation("CreditsChargeMismatch", "ticket"),
    "kill-gunicorn-worker": FaultExpectation("WorkerPoolRestartLoop", "ticket",
                                             ("WorkerPoolWorkersBelowExpected",)),
    "kill-gunicorn-master": FaultExpectation("WorkerPoolMasterDown", "page",
                                             ("ServiceProbeFailed", "VoiceSiteBadGateway")),
    "kill-uvicorn-worker": FaultExpectation("WorkerPoolRestartLoop", "ticket",
                                            ("WorkerPoolWorkersBelowExpected",)),
    "kill-uvicorn-master": FaultExpectation("WorkerPoolMasterDown", "page", ("ServiceProbeFailed", "TargetDown")),
    "kill-celery-worker": FaultExpectation("CeleryNoLiveWorker", "page",
                                           ("CeleryWorkerDown", "WorkerPoolMasterDown", "CeleryQueueBacklog",
                                            "CeleryTaskWaitingTooLong", "CeleryPeriodicTaskStale")),
    "stop-beat": FaultExpectation("CeleryPeriodicTaskStale", "ticket"),
    "stop-mcp": FaultExpectation("McpServerDown", "page"),
    "marketplace-slow": FaultExpectation("MarketplaceSyncLagging", "ticket", ("CeleryTaskFailureRateHigh",)),
    "marketplace-429": FaultExpectation("MarketplaceSyncLagging", "ticket", ("CeleryTaskFailureRateHigh",)),
    "marketplace-5xx": FaultExpectation("MarketplaceSyncLagging", "ticket", ("CeleryTaskFailureRateHigh",)),
    "sla-unanswered": FaultExpectation("SlaBreached", "page"),
    "llm-spend-spike": FaultExpectation("LlmSpendRateHigh", "ticket", ("LlmSpendOverDailyBudget",
                                                                      "LlmBalanceRunwayShort")),
    "llm-402": FaultExpectation("LlmProviderBalanceUnavailable", "page", ("LlmBalanceRunwayShort",
                                                                         "CeleryTaskFailureRateHigh")),
    "grow-capacity": FaultExpectation("CapacityThresholdReached", "ticket", ("CapacityThresholdForecast",)),
    "api-errors": FaultExpectation("ChatApiHttp5xxRateHigh", "ticket", ("ChatcenterApiAvailabilityBurnPage",
                                                                       "ChatcenterApiAvailabilityBurnTicket")),
    "api-slow": FaultExpectation("ChatcenterApiLatencyBurnPage", "page", ("ChatcenterApiLatencyBurnTicket",)),
    "broken-deploy": FaultExpectation("AppImportError", "page", ("AppExceptionRateHigh", "VoiceHttp5xxRateHigh",
                                                                 "ElevenLabsEndEventsMissing", "CreditsNotCharged")),
    "hold-db-connections": FaultExpectation("PostgresConnectionsNearMax", "ticket",
                                            ("PostgresIdleInTransactionTooLong",)),
    "block-db": FaultExpectation("PostgresSessionsBlocked", "ticket",
                                 ("PostgresIdleInTransactionTooLong", "PostgresQueryTooLong")),
    "miss-backup": FaultExpectation("BackupMissing", "ticket", ("BackupMissedTwice",)),
}
