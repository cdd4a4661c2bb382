"""Security headers on every response.

The Content-Security-Policy allows only the project's own scripts, styles and images: no
inline script, no inline style, no CDN. Charts are server-side SVG drawn with presentation
attributes, which the policy does not touch. Pages may not be framed (clickjacking), and
browsers may not guess content types.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    # For browsers that predate frame-ancestors.
    "X-Frame-Options": "DENY",
}


def add_security_headers(response: Response) -> Response:
    """Set the security headers on `response`, keeping any a view chose itself."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def private_link(response: Response) -> Response:
    """A page under a secret or signed link: never cached, and the link never leaks as a referrer."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask | Blueprint) -> None:
    """Add the security headers to every response of `app` (or, for a blueprint, of its app)."""
    if isinstance(app, Blueprint):
        app.after_app_request(add_security_headers)
    else:
        app.after_request(add_security_headers)
