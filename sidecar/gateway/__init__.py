"""The query path every interface shares: request in, limited and audited batches out."""

from sidecar.gateway.audit import AuditLog
from sidecar.gateway.gateway import Gateway, Statement, TableResult
from sidecar.gateway.request import QueryRequest

__all__ = ["AuditLog", "Gateway", "QueryRequest", "Statement", "TableResult"]
