"""Alerting: policy (route, group, inhibit, silence, escalate) and delivery (outbox)."""
