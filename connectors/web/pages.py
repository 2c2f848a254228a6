"""How an API pages its records: the pagers, one per `params.pagination` type.

A pager says where the first page is and, from a page's answer, where the next one is; walking
the pages (bounds, loops) is `api.JsonApi.pages`'s. The default follows an RFC 8288
`Link: <url>; rel="next"` when the API sends one, because stopping at the first page would
return a partial table without a word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx

from connectors.base import SourceError
from connectors.web.jsonpath import JsonPath, parse_json_path


class Pager(Protocol):
    """How to ask for the first page and how to find the next one from a page's response."""

    label: str

    def first(self, url: httpx.URL) -> httpx.URL: ...

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None: ...


@dataclass(frozen=True)
class SinglePage:
    label: ClassVar[str] = "no pagination"

    def first(self, url: httpx.URL) -> httpx.URL:
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        return None


@dataclass(frozen=True)
class LinkPages:
    """RFC 8288 `Link: <url>; rel="next"`; the next URL already carries every parameter.

    The default: an API that says there is a next page gets asked for it, because stopping
    at the first page would return a partial table without a word.
    """

    label: ClassVar[str] = "link pagination"

    def first(self, url: httpx.URL) -> httpx.URL:
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        target = next_link(response)
        return url.join(target) if target else None


# RFC 8288: link-value = "<" URI-Reference ">" *( ";" link-param ), link-param values
# quoted or not; link-values are separated by commas (outside quotes).
LINK_PARAM = r'\s*;\s*([^;,=\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,]*))?'
LINK_VALUE = re.compile(rf"<([^>]*)>((?:{LINK_PARAM})*)")
LINK_PARAMS = re.compile(LINK_PARAM)


def next_link(response: httpx.Response) -> str | None:
    """The target of the response's `rel="next"` link (RFC 8288), from every Link header.

    `rel` holds a space-separated list of relation types compared without regard to case, so
    `rel="next last"` and `REL=Next` count; a link with an `anchor` is about another resource.
    """
    for header in response.headers.get_list("link"):
        for match in LINK_VALUE.finditer(header):
            params = {
                name.lower(): value.strip().strip('"')
                for name, value in LINK_PARAMS.findall(match.group(2))
            }
            if "anchor" not in params and "next" in params.get("rel", "").lower().split():
                return match.group(1).strip()
    return None


@dataclass(frozen=True)
class CursorPages:
    label: ClassVar[str] = "cursor pagination"
    param: str
    path: JsonPath

    def first(self, url: httpx.URL) -> httpx.URL:
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        found = self.path.find(body)
        cursor = found[0] if found else None
        if cursor is None or cursor == "" or isinstance(cursor, list | dict | bool):
            return None
        return url.copy_set_param(self.param, str(cursor))


@dataclass(frozen=True)
class PageNumbers:
    """`?page=N`; without a page size only an empty page ends the scan."""

    label: ClassVar[str] = "page pagination"
    param: str
    size_param: str | None
    size: int | None
    start: int

    def first(self, url: httpx.URL) -> httpx.URL:
        url = url.copy_set_param(self.param, self.start)
        if self.size_param is not None and self.size is not None:
            url = url.copy_set_param(self.size_param, self.size)
        return url

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        if self.size is not None and count < self.size:
            return None
        return url.copy_set_param(self.param, int(url.params[self.param]) + 1)


@dataclass(frozen=True)
class Offsets:
    label: ClassVar[str] = "offset pagination"
    param: str
    limit_param: str
    size: int
    start: int

    def first(self, url: httpx.URL) -> httpx.URL:
        return url.copy_set_param(self.param, self.start).copy_set_param(
            self.limit_param, self.size
        )

    def next(
        self, url: httpx.URL, response: httpx.Response, body: Any, count: int
    ) -> httpx.URL | None:
        if count < self.size:
            return None
        return url.copy_set_param(self.param, int(url.params[self.param]) + self.size)


PAGINATION_KEYS: dict[str, tuple[str, ...]] = {
    "none": (),
    "link": (),
    "cursor": ("cursor_param", "cursor_path"),
    "page": ("page_param", "size_param", "size", "start"),
    "offset": ("offset_param", "limit_param", "size", "start"),
}


def parse_pagination(spec: Any) -> Pager:
    """A pager from `params.pagination`: a mapping with `type`, or just the type's name."""
    if spec is None:
        return LinkPages()
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise SourceError("params.pagination must be a mapping like {type: link}")
    kind = spec.get("type")
    if kind not in PAGINATION_KEYS:
        raise SourceError(
            f"params.pagination.type must be one of {', '.join(PAGINATION_KEYS)}, not {kind!r}"
        )
    _check_keys(spec, ("type", *PAGINATION_KEYS[kind]), "params.pagination")
    return _pager(kind, spec)


def _pager(kind: str, spec: Mapping[str, Any]) -> Pager:
    """Build the pager of an already validated `kind`; each key has the API-usual default."""
    where = "params.pagination"
    if kind == "none":
        return SinglePage()
    if kind == "link":
        return LinkPages()
    if kind == "cursor":
        return CursorPages(
            param=_name(spec.get("cursor_param", "cursor"), f"{where}.cursor_param"),
            path=parse_json_path(spec.get("cursor_path", "$.next_cursor"), f"{where}.cursor_path"),
        )
    if kind == "page":
        size_param = spec.get("size_param")
        size = spec.get("size")
        if size_param is not None and size is None:
            raise SourceError(f"{where}.size is required with {where}.size_param")
        return PageNumbers(
            param=_name(spec.get("page_param", "page"), f"{where}.page_param"),
            size_param=None if size_param is None else _name(size_param, f"{where}.size_param"),
            size=None if size is None else _integer(size, f"{where}.size", minimum=1),
            start=_integer(spec.get("start", 1), f"{where}.start", minimum=0),
        )
    return Offsets(
        param=_name(spec.get("offset_param", "offset"), f"{where}.offset_param"),
        limit_param=_name(spec.get("limit_param", "limit"), f"{where}.limit_param"),
        size=_integer(spec.get("size", 100), f"{where}.size", minimum=1),
        start=_integer(spec.get("start", 0), f"{where}.start", minimum=0),
    )


def _check_keys(given: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    unknown = sorted(str(key) for key in given if key not in known)
    if unknown:
        raise SourceError(
            f"unknown {where} key(s): {', '.join(unknown)}; known keys: {', '.join(known)}"
        )


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SourceError(f"{where} must be an integer >= {minimum}, not {value!r}")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SourceError(f"{where} must be a non-empty query parameter name")
    return value
