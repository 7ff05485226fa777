"""terraform-provider-tocsin: a Terraform provider (plugin protocol 6) written in Python on grpcio.

Layout: plugin.py (go-plugin handshake, AutoMTLS, gRPC server), proto.py + gen/ (tfplugin6 messages from the
vendored MPL-2.0 proto), cty.py (values on the wire), servicer.py (the RPCs), framework.py (schemas, diagnostics,
shared planning rules), provider.py (configuration), resources/ (one module per resource type), normalize.py and
checks.py (semantic JSON equality and plan-time validation with the engine's own schemas), install.py (offline
filesystem mirror). Nothing here is imported by `import tocsin`.
"""
