"""HTTP routes, one module per concern; each route parses the request and calls one store/domain function."""
