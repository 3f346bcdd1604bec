"""Keep a served service from degrading: spans and metrics of every answer, scheduled re-evaluation,
drift detection, alerts, the review queue from feedback to the eval set, config versions with shadow
traffic, traffic splits, promotion and rollback (docs/MONITORING.md)."""
