"""Tocsin: alerts and automations as code.

The public surface is kept small and import-light (no FastAPI, SQLAlchemy or cdktf here) so that the CLI and
the Terraform provider start fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
