"""The web UI: plain HTML, CSS and ES modules shipped inside the package.

Every asset is served by the host itself (no CDN, no build step): a trading host may be
offline, and a trading tool must not run scripts from third parties.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

# Pages run only the host's own scripts and styles, and talk only to the host.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=PAGE_HEADERS)


@router.get("/")
def dashboard() -> FileResponse:
    return _page("index.html")


@router.get("/login")
def login() -> FileResponse:
    return _page("login.html")


@router.get("/strategies/new")
def upload() -> FileResponse:
    return _page("upload.html")


# The page reads the strategy from its own address; nothing of the path reaches a file.
@router.get("/strategies/{ref}")
def strategy(ref: str) -> FileResponse:
    return _page("strategy.html")


@router.get("/strategies/{ref}/edit")
def editor(ref: str) -> FileResponse:
    return _page("editor.html")


@router.get("/positions")
def positions() -> FileResponse:
    return _page("positions.html")


@router.get("/contracts")
def contracts() -> FileResponse:
    return _page("contracts.html")


def install_web_ui(app: FastAPI) -> None:
    """Pages at `/`, `/login`, `/strategies/...`, `/positions` and `/contracts`, assets under
    `/static/`; never a catch-all over `/api`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
