"""Delivery of automation actions beyond the core outbox (tocsin.server.outbox): Prefect API actions,
block reference checks, drills and log redaction of secret values."""
