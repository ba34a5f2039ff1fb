"""CSRF protection for cookie-authenticated unsafe requests (double-submit token).

At sign-in the gateway sets `bc_csrf` (readable by the page's script, not HttpOnly). A
request that authenticates with the session cookie and is not GET/HEAD/OPTIONS must send
the same value in `X-CSRF-Token`; another site can make the browser send the cookie but
cannot read it to copy it into a header. A cross-site `Origin` outside the CORS list is
refused too. Requests with `Authorization: Bearer` carry no ambient credential and are
not checked.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

CSRF_COOKIE = "bc_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def check_csrf(request: Request, allowed_origins: list[str]) -> None:
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != "null":
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin.rstrip("/") != own and origin.rstrip("/") not in allowed_origins:
            raise HTTPException(403, "cross-site request refused (origin not allowed)")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not hmac.compare_digest(cookie, header):
        raise HTTPException(
            403,
            "missing or wrong CSRF token: send the bc_csrf cookie's value in X-CSRF-Token",
        )
