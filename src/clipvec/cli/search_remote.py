"""``clipvec search --service URL``: ask a running service instead of loading the model here.

Loading the model takes seconds (8.5 s for ViT-B/32 on a laptop); a running ``clipvec serve``
answers in milliseconds. The service's own routes are used (``/collection_info``, then
``/search_text``, ``/search_image`` or ``/search_combined``), with ``CLIPVEC_API_KEY`` as the bearer key when set,
and the standard library's HTTP client (the CLI needs no extra package for it).

The service searches the collection it was started with. Its ``/collection_info`` names the
collection but not the Milvus URI, so the CLI checks the name (a different one is refused)
and cannot check the database: that is why the CLI never picks a service on its own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from clipvec.errors import ClipvecError
from clipvec.search import SearchOptions

TIMEOUT = 120.0  # seconds for one answer: a search by a 100-megapixel image takes a while


@dataclass(frozen=True)
class RemoteAnswer:
    """The service's search answer, and its collection's name and size."""

    hits: list[dict[str, Any]]
    metric: str
    higher_is_better: bool
    collection: str
    count: int


def service_error(detail: str) -> ClipvecError:
    return ClipvecError(detail, code="service_unavailable")


def _call(url: str, route: str, body: bytes, content_type: str, api_key: str, params: dict[str, str]) -> Any:
    target = url.rstrip("/") + route + ("?" + urllib.parse.urlencode(params) if params else "")
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310 - the user's URL
            raw = resp.read()
    except urllib.error.HTTPError as err:
        raise service_error(f"the service at {url} answered {err.code}: {_error_detail(err)}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise service_error(
            f"cannot reach the service at {url} ({reason}); start it with `clipvec serve`, "
            "or leave out --service (CLIPVEC_SERVICE_URL) to search here"
        ) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise service_error(
            f"the service at {url} did not answer with JSON (is it a clipvec service?)"
        ) from None


def _error_detail(err: urllib.error.HTTPError) -> str:
    """The ``{"error", "detail"}`` of a clipvec answer, else the status text."""
    try:
        body = json.loads(err.read())
        return f"{body['error']}: {body['detail']}"
    except (ValueError, KeyError, TypeError, OSError):
        return str(err.reason)


def query_params(options: SearchOptions) -> dict[str, str]:
    params = {"top_k": str(options.top_k)}
    if options.min_score is not None:
        params["min_score"] = repr(options.min_score)
    if options.path_prefix:
        params["path_prefix"] = options.path_prefix
    params.update(options.filters.as_query())
    if options.sort != "score":
        params["sort"] = options.sort
    return params


def search_service(
    url: str,
    *,
    collection: str,
    api_key: str,
    options: SearchOptions,
    text: str | None = None,
    image: bytes | None = None,
    parts: dict[str, Any] | None = None,
) -> RemoteAnswer:
    """Search by ``text`` or ``image`` through the service at ``url`` (its collection must be ``collection``)."""
    info = _call(url, "/collection_info", b"{}", "application/json", api_key, {})
    if not isinstance(info, dict) or "collection" not in info:
        raise service_error(f"{url} is not a clipvec service (its /collection_info has no collection)")
    if info["collection"] != collection:
        raise service_error(
            f"the service at {url} serves the collection {info['collection']!r}, not {collection!r} "
            f"(CLIPVEC_COLLECTION); pass --collection {info['collection']} to search it"
        )
    params = query_params(options)
    if parts is not None:
        body = json.dumps(parts).encode()
        answer = _call(url, "/search_combined", body, "application/json", api_key, params)
    elif image is not None:
        answer = _call(url, "/search_image", image, "application/octet-stream", api_key, params)
    else:
        answer = _call(
            url, "/search_text", (text or "").encode("utf-8"), "text/plain; charset=utf-8", api_key, params
        )
    return RemoteAnswer(
        hits=list(answer["hits"]),
        metric=str(answer["metric"]),
        higher_is_better=bool(answer.get("higher_is_better", True)),
        collection=str(info["collection"]),
        count=int(info.get("count", 0)),
    )
