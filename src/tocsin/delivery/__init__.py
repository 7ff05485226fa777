"""Delivery of automation actions beyond the core outbox (tocsin.delivery.planner, tocsin.delivery.dispatcher): Prefect API actions,
block reference checks, drills and log redaction of secret values."""
