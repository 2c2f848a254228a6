"""Where a file dataset's files live: the local disk, S3, Google Cloud Storage or Azure Blob.

Every store is one of pyarrow's own filesystems (LocalFileSystem, S3FileSystem, GcsFileSystem,
AzureFileSystem), so the file connector lists, opens and scans files the same way wherever they
are: ranged reads of Parquet footers and row groups, streaming CSV and JSON. A store also knows
how to name a path to the operator (`s3://lake/events/x.parquet`, or relative to sidecar.yaml)
and how to turn the cloud's refusals into errors that say which credential, which bucket and
what to change.

    datasets:
      - from: s3://lake/events/                # one object, a prefix, or a glob
        params:
          region: eu-west-1
          access_key_id: ${env:AWS_ACCESS_KEY_ID}        # else the default credential chain
          secret_access_key: ${env:AWS_SECRET_ACCESS_KEY}
          endpoint: http://minio:9000                    # MinIO, Ceph, any S3-compatible store
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from connectors.base import DatasetSource, SourceError

LOCAL = "file"
S3 = ("s3",)
GCS = ("gs",)
AZURE = ("az", "abfs", "abfss")
SCHEMES = (LOCAL, *S3, *GCS, *AZURE)
S3_PARAMS = (
    "region",
    "endpoint",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "role_arn",
    "anonymous",
)
GCS_PARAMS = ("endpoint", "access_token", "project_id", "anonymous")
AZURE_PARAMS = (
    "endpoint",
    "account_name",
    "account_key",
    "sas_token",
    "client_id",
    "client_secret",
    "tenant_id",
)
PARAMS = {"s3": S3_PARAMS, "gs": GCS_PARAMS} | dict.fromkeys(AZURE, AZURE_PARAMS)
SECRET_PARAMS = ("secret_access_key", "session_token", "access_token", "account_key")
SECRET_PARAMS += ("sas_token", "client_secret")
# Not secrets, but half of one: never shown either (an access key ID names an AWS account).
IDENTIFIERS = ("access_key_id", "client_id")
# An access token handed over in params is used as is; the store cannot renew it.
TOKEN_LIFETIME = dt.timedelta(hours=12)
AZURE_HOST = re.compile(r"^(?P<account>[^.]+)\.(?:dfs|blob)\.core\.windows\.net$")

DENIED = re.compile(
    r"ACCESS_DENIED|AccessDenied|\b403\b|Forbidden|AuthorizationFailure|PERMISSION_DENIED"
)
UNKNOWN_KEY = re.compile(r"InvalidAccessKeyId|access key Id you provided does not exist")
BAD_SECRET = re.compile(r"SignatureDoesNotMatch|failed to authenticate|UNAUTHENTICATED|\b401\b")
NO_BUCKET = re.compile(r"NO_SUCH_BUCKET|NoSuchBucket|ContainerNotFound|bucket does not exist")
WRONG_REGION = re.compile(
    r"PermanentRedirect|\b301\b|AuthorizationHeaderMalformed|IllegalLocationConstraint"
    r"|wrong region|region '[^']*' is wrong"
)
UNREACHABLE = re.compile(
    r"Couldn't connect|Could not connect|Connection refused|connect to server|resolve host"
    r"|Could not resolve|Timeout was reached|NETWORK_CONNECTION|Fail to get a new connection"
    r"|curl|UNAVAILABLE"
)


@dataclass(frozen=True)
class Store:
    """One filesystem and the few facts about it the file connector needs.

    `delimited` says whether listing one level of a prefix shows its sub-prefixes, which lets
    partition pruning skip whole prefixes unlisted. pyarrow's GCS client lists objects only, so
    on GCS a prefix is listed whole and pruned before anything is read. `credential` says, in
    words, which credential requests are signed with: errors name it.
    """

    filesystem: pafs.FileSystem
    scheme: str
    credential: str = "the local user"
    delimited: bool = True
    base_dir: Path | None = None
    endpoint: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    secret_params: tuple[str, ...] = ()

    @property
    def remote(self) -> bool:
        return self.scheme != LOCAL

    def display(self, path: str) -> str:
        """A path as the operator wrote it: `s3://bucket/key`, or relative to sidecar.yaml."""
        if self.remote:
            return f"{self.scheme}://{path}"
        if self.base_dir is not None:
            try:
                return PurePosixPath(path).relative_to(self.base_dir.as_posix()).as_posix() or "."
            except ValueError:
                pass
        return path

    def scrub(self, text: str) -> str:
        """A message without local absolute paths or any secret param."""
        for secret in self.secrets:
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        if self.base_dir is not None:
            for base in {str(self.base_dir.resolve()), str(self.base_dir)}:
                text = text.replace(base + "/", "")
        return text

    def bucket(self, path: str) -> str:
        return path.split("/", 1)[0]

    def error(self, error: OSError, path: str) -> SourceError:
        """The store's refusal, said so the operator knows which credential or name to fix."""
        text = self.scrub(str(error))
        where = self.display(path)
        if not self.remote:
            return SourceError(f"cannot read {where}: {text}")
        bucket = self.bucket(path)
        kind = {"s3": "bucket", "gs": "bucket"}.get(self.scheme, "container")
        if NO_BUCKET.search(text):
            return self.missing_bucket(bucket)
        if WRONG_REGION.search(text):
            return SourceError(
                f"{self.scheme}://{bucket} is not in the region the request went to: {text}",
                hint="set params.region to the bucket's region",
            )
        if UNKNOWN_KEY.search(text):
            return SourceError(
                f"the store does not know {self.credential} ({kind} {bucket})",
                hint="check params.access_key_id, or remove it to use the default chain",
            )
        if refused(text):
            return SourceError(
                f"access to {where} denied for {self.credential}: {first_line(text)}",
                hint=f"check that this credential may list and read {kind} {bucket} and that "
                f"its secret is right ({', '.join(f'params.{p}' for p in self.secret_params)}); "
                f"for a public {kind} set params.anonymous: true",
            )
        if UNREACHABLE.search(text):
            target = self.endpoint or f"{self.scheme}:// ({self.credential})"
            return SourceError(
                f"cannot reach {target}: {first_line(text)}",
                hint="check params.endpoint and the network path to the store",
            )
        return SourceError(f"reading {where} failed: {first_line(text)}")

    def missing_bucket(self, bucket: str) -> SourceError:
        kind = {"s3": "bucket", "gs": "bucket"}.get(self.scheme, "container")
        at = f" at {self.endpoint}" if self.endpoint else ""
        return SourceError(
            f"{kind} {bucket} does not exist{at} (or {self.credential} may not see it)",
            hint=f"check the {kind} name in from: {self.scheme}://<{kind}>/<prefix>",
        )


def refused(text: str) -> bool:
    """Whether a store's error says the credential was refused (unknown, wrong or too weak)."""
    return any(p.search(text) for p in (DENIED, BAD_SECRET, UNKNOWN_KEY))


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def open_store(source: DatasetSource) -> tuple[Store, str]:
    """The store of a dataset and the location's path in it (absolute, for local files)."""
    scheme = source.scheme
    params = source.params
    if scheme == LOCAL:
        path = Path(source.location)
        if not path.is_absolute():
            path = source.base_dir / path
        store = Store(pafs.LocalFileSystem(), LOCAL, base_dir=source.base_dir)
        return store, path.as_posix()
    location = source.location if source.location.startswith("//") else "//" + source.location
    url = urlsplit(f"{scheme}:{location}")
    if not url.netloc:
        raise SourceError(
            f"'{scheme}:{source.location}' names no bucket",
            hint=f"write from: {scheme}://<bucket>/<prefix or object or glob>",
        )
    secrets = tuple(str(params[name]) for name in SECRET_PARAMS if params.get(name))
    secrets += tuple(str(params[name]) for name in IDENTIFIERS if params.get(name))
    if scheme in S3:
        return _s3(params, source.timeout, secrets), url.netloc + url.path
    if scheme in GCS:
        return _gcs(params, source.timeout, secrets), url.netloc + url.path
    container, account = _azure_location(scheme, url.netloc, params)
    return _azure(params, account, secrets), container + url.path


def store_params(scheme: str) -> tuple[str, ...]:
    return PARAMS.get(scheme, ())


def _s3(params: Mapping[str, Any], timeout: float, secrets: tuple[str, ...]) -> Store:
    options: dict[str, Any] = {
        "connect_timeout": timeout,
        "request_timeout": timeout,
        "region": params.get("region"),
    }
    endpoint = _endpoint(params, options, "endpoint_override")
    if endpoint is not None and options["region"] is None:
        options["region"] = "us-east-1"  # S3-compatible stores answer in any region
    key = params.get("access_key_id")
    if _flag(params, "anonymous"):
        options["anonymous"] = True
        credential = "anonymous access (params.anonymous)"
    elif key:
        if not params.get("secret_access_key"):
            raise SourceError(
                "params.access_key_id is set without params.secret_access_key",
                hint="give both (as ${env:...} or ${file:...} secrets), or neither to use the "
                "default credential chain",
            )
        options |= {
            "access_key": str(key),
            "secret_key": str(params["secret_access_key"]),
            "session_token": params.get("session_token"),
        }
        # the key ID is half the credential: named by its param, never shown
        credential = "the access key in params.access_key_id"
    elif params.get("role_arn"):
        options["role_arn"] = str(params["role_arn"])
        credential = f"role {params['role_arn']} (params.role_arn)"
    else:
        credential = (
            "the default AWS credential chain (AWS_* variables, ~/.aws, web identity, "
            "instance role)"
        )
    return Store(
        _filesystem(pafs.S3FileSystem, "S3", options),
        "s3",
        credential,
        endpoint=endpoint,
        secrets=secrets,
        secret_params=("access_key_id", "secret_access_key", "session_token"),
    )


def _gcs(params: Mapping[str, Any], timeout: float, secrets: tuple[str, ...]) -> Store:
    options: dict[str, Any] = {
        "retry_time_limit": dt.timedelta(seconds=timeout),
        "project_id": params.get("project_id"),
    }
    endpoint = _endpoint(params, options, "endpoint_override")
    if _flag(params, "anonymous"):
        options["anonymous"] = True
        credential = "anonymous access (params.anonymous)"
    elif params.get("access_token"):
        options["access_token"] = str(params["access_token"])
        options["credential_token_expiration"] = dt.datetime.now(dt.UTC) + TOKEN_LIFETIME
        credential = "the access token in params.access_token"
    else:
        credential = (
            "Google's default credentials (GOOGLE_APPLICATION_CREDENTIALS, workload identity, "
            "the metadata server)"
        )
    filesystem = _filesystem(pafs.GcsFileSystem, "GCS", options)
    return Store(filesystem, "gs", credential, delimited=False, endpoint=endpoint, secrets=secrets)


def _azure(params: Mapping[str, Any], account: str, secrets: tuple[str, ...]) -> Store:
    options: dict[str, Any] = {"account_name": account}
    endpoint = params.get("endpoint")
    if endpoint:
        parts = urlsplit(str(endpoint))
        if not parts.scheme or not parts.netloc:
            raise SourceError(
                f"params.endpoint '{endpoint}' is not a URL", hint="e.g. http://127.0.0.1:10000"
            )
        # Azurite and other emulators serve blobs and the Data Lake API on one address.
        options |= {
            "blob_storage_authority": parts.netloc,
            "blob_storage_scheme": parts.scheme,
            "dfs_storage_authority": parts.netloc,
            "dfs_storage_scheme": parts.scheme,
        }
    if params.get("account_key"):
        options["account_key"] = str(params["account_key"])
        credential = f"the key of account {account} (params.account_key)"
    elif params.get("sas_token"):
        options["sas_token"] = str(params["sas_token"])
        credential = f"the SAS token of account {account} (params.sas_token)"
    elif params.get("client_id") and params.get("client_secret"):
        options |= {
            "client_id": str(params["client_id"]),
            "client_secret": str(params["client_secret"]),
            "tenant_id": str(params.get("tenant_id") or ""),
        }
        credential = "the service principal in params.client_id"
    else:
        credential = (
            f"Azure's default credential for account {account} (AZURE_* variables, workload "
            "identity, managed identity)"
        )
    return Store(
        _filesystem(pafs.AzureFileSystem, "Azure", options),
        "az",
        credential,
        endpoint=str(endpoint) if endpoint else None,
        secrets=secrets,
        secret_params=("account_key", "sas_token", "client_secret"),
    )


def _filesystem(
    make: Callable[..., pafs.FileSystem], service: str, options: Mapping[str, Any]
) -> pafs.FileSystem:
    """pyarrow's client for `service` with the options that are set; one it refuses (a bad
    region, a malformed token) is the dataset's error."""
    try:
        return make(**{k: v for k, v in options.items() if v is not None})
    except (OSError, ValueError, TypeError) as error:
        raise SourceError(f"cannot set up {service} access: {error}", hint="check params") from None


def _azure_location(scheme: str, netloc: str, params: Mapping[str, Any]) -> tuple[str, str]:
    """`abfs[s]://container@account.dfs.core.windows.net/path` or `az://container/path` with
    params.account_name."""
    container, at, host = netloc.partition("@")
    account = params.get("account_name")
    if at:
        match = AZURE_HOST.match(host)
        if match is None:
            raise SourceError(
                f"'{host}' is not an Azure storage host",
                hint=f"write from: {scheme}://<container>@<account>.dfs.core.windows.net/<path>",
            )
        account = account or match.group("account")
    if not account:
        raise SourceError(
            f"which storage account holds container {container}?",
            hint="set params.account_name, or write "
            "abfss://<container>@<account>.dfs.core.windows.net/<path>",
        )
    return container, str(account)


def _endpoint(params: Mapping[str, Any], options: dict[str, Any], key: str) -> str | None:
    """`http://host:port` for an emulator or an S3-compatible store; the scheme picks TLS."""
    endpoint = params.get("endpoint")
    if not endpoint:
        return None
    parts = urlsplit(str(endpoint) if "://" in str(endpoint) else f"https://{endpoint}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourceError(
            f"params.endpoint '{endpoint}' is not a URL", hint="e.g. http://127.0.0.1:9000"
        )
    options[key] = parts.netloc + parts.path.rstrip("/")
    options["scheme"] = parts.scheme
    return f"{parts.scheme}://{parts.netloc}"


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise SourceError(f"params.{name} must be true or false")
    return value
