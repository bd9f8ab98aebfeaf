"""Keptn's paging convention: `pageSize` + `nextPageKey` (a string offset) in; items, `nextPageKey` and
`totalCount` out. The gin services and the go-swagger datastore differ in details, kept here side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.errors import KeptnHTTPError


@dataclass(frozen=True)
class Page:
    offset: int
    size: int

    @property
    def next_offset(self) -> int:
        return self.offset + self.size

    def gin_envelope(self, total: int) -> dict[str, Any]:
        """shipyard-controller / resource-service: nextPageKey always there ("0" at the end), no pageSize,
        totalCount omitted when zero (Go omitempty)."""
        out: dict[str, Any] = {"nextPageKey": str(self.next_offset) if self.next_offset < total else "0"}
        if total:
            out["totalCount"] = total
        return out

    def swagger_envelope(self, total: int) -> dict[str, Any]:
        """mongodb-datastore: pageSize echoed, nextPageKey only when there is more, totalCount omitted when zero."""
        out: dict[str, Any] = {"pageSize": self.size}
        if self.next_offset < total:
            out["nextPageKey"] = str(self.next_offset)
        if total:
            out["totalCount"] = total
        return out


def _offset(next_page_key: str | None) -> int:
    # Keptn reads the key with Atoi and treats garbage as the first page.
    try:
        return max(0, int(next_page_key or 0))
    except ValueError:
        return 0


def parse_gin_page(page_size: str | None, next_page_key: str | None, *, maximum: int | None = None) -> Page:
    if page_size in (None, ""):
        size = 20
    else:
        try:
            size = int(page_size)
        except ValueError as exc:
            raise KeptnHTTPError(
                400, f'Invalid request format: strconv.ParseInt: parsing "{page_size}": invalid syntax'
            ) from exc
        if size < 1:
            size = 20
    return Page(offset=_offset(next_page_key), size=min(size, maximum) if maximum else size)


def parse_swagger_int(value: str | None, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """go-swagger query validation: 422 with the schema error code in the body."""
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise KeptnHTTPError(422, f'{name} in query must be of type int64: "{value}"', code=601) from exc
    if number < minimum:
        raise KeptnHTTPError(422, f"{name} in query should be greater than or equal to {minimum}", code=609)
    if number > maximum:
        raise KeptnHTTPError(422, f"{name} in query should be less than or equal to {maximum}", code=608)
    return number


def parse_swagger_page(page_size: str | None, next_page_key: str | None, *, maximum: int) -> Page:
    size = parse_swagger_int(page_size, "pageSize", default=20, minimum=1, maximum=maximum)
    return Page(offset=_offset(next_page_key), size=size)


def _go_int(value: str | None) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except ValueError as exc:
        raise KeptnHTTPError(
            400, f'Invalid request format: strconv.ParseInt: parsing "{value}": invalid syntax'
        ) from exc


@dataclass(frozen=True)
class UnboundedPage:
    """shipyard-controller's sequence, execution and log lists: everything when `pageSize` is absent, and
    every number of the answer is omitempty (nextPageKey is a number here)."""

    offset: int
    size: int  # 0: no limit

    @property
    def limit(self) -> int | None:
        return self.size or None

    def envelope(self, total: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.size and self.offset + self.size < total:
            out["nextPageKey"] = self.offset + self.size
        if total:
            out["totalCount"] = total
        return out


def parse_unbounded_page(page_size: str | None, next_page_key: str | None) -> UnboundedPage:
    return UnboundedPage(offset=max(_go_int(next_page_key), 0), size=max(_go_int(page_size), 0))
