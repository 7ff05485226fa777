"""The `tocsin` provider: its configuration (url, token with TOCSIN_URL / TOCSIN_API_TOKEN fallback), the
lazily built TocsinClient, and the list of resource types and data sources it serves."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from tocsin.errors import TocsinError
from tocsin.provider.cty import Unknown
from tocsin.provider.framework import STRING, Attribute, Diagnostics, Schema
from tocsin.provider.resources.automation import AutomationDataSource, AutomationResource
from tocsin.provider.resources.block import BlockDataSource, BlockResource
from tocsin.provider.resources.secret import SecretResource

NAMESPACE = "tocsin"
TYPE = "tocsin"
VERSION = "0.1.0"
SOURCE = f"registry.terraform.io/{NAMESPACE}/{TYPE}"

SCHEMA = Schema(
    description="Tocsin: alerts and automations as code.",
    attributes=(
        Attribute("url", STRING, "Engine base URL, e.g. http://127.0.0.1:4200; defaults to $TOCSIN_URL.",
                  optional=True),
        Attribute("token", STRING, "API token; defaults to $TOCSIN_API_TOKEN.", optional=True, sensitive=True),
    ),
)


class TocsinProvider:
    schema = SCHEMA
    resources = (AutomationResource, BlockResource, SecretResource)
    data_sources = (AutomationDataSource, BlockDataSource)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._url: str | None = None
        self._token: str | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    def configure(self, config: dict[str, Any] | None, diags: Diagnostics) -> None:
        config = config or {}
        url, token = config.get("url"), config.get("token")
        if url is Unknown or token is Unknown:
            diags.warning("Provider configuration not known yet",
                          "url or token depends on values known only after apply; reads will fail until then")
        self._url = url if isinstance(url, str) and url else self._environ.get("TOCSIN_URL")
        self._token = token if isinstance(token, str) and token else self._environ.get("TOCSIN_API_TOKEN")
        self._client = None

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                if not self._url:
                    raise TocsinError("the tocsin provider has no engine URL: set url in the provider block "
                                      "or the TOCSIN_URL environment variable")
                from tocsin.client import TocsinClient  # requests costs ~50 ms: load it only when talking

                self._client = TocsinClient(self._url, self._token)
            return self._client
