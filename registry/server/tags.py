"""``GET /v2/<name>/tags/list`` and ``GET /v2/_catalog``, with ``n``/``last`` pagination and
a ``Link: <…>; rel="next"`` header when more remain (distribution-spec §Listing tags)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import ocitypes

from ..errors import ErrorCode, RegistryError
from . import names
from .access import PULL
from .common import principal, require, run, state

MAX_PAGE = 10_000
"""The most entries one answer holds; a client asking for more gets a Link to the rest."""


async def tags(request: Request) -> Response:
    name = names.repository(request.path_params["name"])
    require(request, name, PULL)
    try:
        listed = await run(state(request).backend.manifests.tags, name)
    except ocitypes.ManifestUnknown as exc:
        raise RegistryError.of(ErrorCode.NAME_UNKNOWN, f"no repository {name}",
                               {"name": name}) from exc
    page, link = paginate(request, sorted(listed), f"/v2/{name}/tags/list")
    return JSONResponse({"name": name, "tags": page}, headers=link)


async def catalog(request: Request) -> Response:
    auth = state(request).auth
    who = principal(request)
    repositories = await run(state(request).backend.manifests.repositories)
    visible = sorted(r for r in repositories if auth.allows(who, r, PULL))
    page, link = paginate(request, visible, "/v2/_catalog")
    return JSONResponse({"repositories": page}, headers=link)


def paginate(request: Request, items: Sequence[str], path: str) -> tuple[list[str], dict[str, str]]:
    """The page ``n`` and ``last`` select, and the ``Link`` header to the next one."""
    query = request.query_params
    last = query.get("last")
    text = query.get("n")
    if text is not None and not text.isdigit():
        raise RegistryError(400, ErrorCode.UNSUPPORTED, "n must be a whole number, 0 or more")
    limit = min(int(text), MAX_PAGE) if text is not None else MAX_PAGE
    rest = [item for item in items if last is None or item > last]
    page = rest[:limit]
    if limit == 0 or len(rest) <= len(page):
        return page, {}
    target = f"{path}?n={limit}&last={quote(page[-1], safe='/')}"
    return page, {"Link": f'<{target}>; rel="next"'}
