"""What every self-contained HTML page promptctl writes shares: the light/dark colour
variables (THEME, switched by prefers-color-scheme), the escaping of quoted text
(`esc`), and the Content-Security-Policy built from hashes of the page's own style and
script (`policy`, `head`).

Invariants: a page has exactly one <style> and at most one <script>, both inline; the
policy allows those two by their SHA-256 and nothing else (no network, no inline
`style=` attributes, no other script), so a page must colour through classes and the
variables below, and draw with SVG presentation attributes."""

from __future__ import annotations

import base64
import hashlib
from html import escape

THEME = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mut:#59636e;--line:#d1d9e0;
--card:#f6f8fa;--pass:#dafbe1;--pass-f:#116329;--fail:#ffebe9;--fail-f:#a40e26;
--error:#fff8c5;--error-f:#7d4e00;--flaky:#fbefff;--flaky-f:#8250df;--warn:#bc4c00;
--info:#0969da;--ins:#aceebb;--del:#ffcecb;--c-run:#0969da;--c-base:#6e7781;
--c-band:rgba(9,105,218,.16);--c-mark:#bc4c00}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#9198a1;
--line:#3d444d;--card:#151b23;--pass:#12361f;--pass-f:#7ee2a0;--fail:#4a1519;
--fail-f:#ffa198;--error:#3b2e05;--error-f:#e3b341;--flaky:#2e1f4a;--flaky-f:#d2a8ff;
--warn:#f0883e;--info:#58a6ff;--ins:#1f5f2f;--del:#6e2025;--c-run:#58a6ff;
--c-base:#9198a1;--c-band:rgba(88,166,255,.22);--c-mark:#f0883e}}
body{margin:0;padding:16px 24px;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:20px;margin:0 0 4px}.mut{color:var(--mut)}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table{border-collapse:collapse}th,td{border:1px solid var(--line);text-align:left;
vertical-align:top;padding:4px 8px}
.v{padding:8px 12px;border-radius:6px;font-weight:600;margin:10px 0}
"""


def esc(value: object) -> str:
    """Text for HTML (element content and quoted attributes alike)."""
    return escape(str(value), quote=True)


def source_hash(text: str) -> str:
    """The CSP source that allows exactly this inline style or script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def policy(style: str, script: str | None = None) -> str:
    """default-src 'none', the page's own style (and script) by hash."""
    scripts = f"script-src {source_hash(script)}; " if script is not None else ""
    return (f"default-src 'none'; {scripts}style-src {source_hash(style)}; "
            "base-uri 'none'; form-action 'none'")


def head(title: str, style: str, script: str | None = None) -> str:
    """From the doctype to the opening <body>: the policy, the title, the style."""
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{policy(style, script)}">\n'
            '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
            f"<title>{esc(title)}</title><style>{style}</style></head><body>")
