"""The HTTP layer the web API sources share: one client, one retry policy, one way to page.

`connectors.http` (any JSON API) and `connectors.github` (GitHub's REST API) are both thin
configurations of `api.JsonApi`: where the API is, which credentials it takes and where they
may go (`client`), when to ask again (`retry`), how to find the next page (`pages`) and the
records in a response (`jsonpath`, `records`), and what of it is safe to show (`redact`).

This package's `__init__` imports nothing, so `retry` (which the accelerators' refreshes use)
loads without an HTTP client.
"""
