"""`python -m tocsin.provider` / `terraform-provider-tocsin`: the provider process Terraform starts."""

from __future__ import annotations

import sys


def main() -> int:
    from tocsin.provider.plugin import serve
    from tocsin.provider.provider import TocsinProvider
    from tocsin.provider.servicer import ProviderServicer, handler

    return serve(handler(ProviderServicer(TocsinProvider())))


if __name__ == "__main__":
    sys.exit(main())
