"""Pydantic models shared by the engine, the API, the provider and the constructs. No I/O here."""
