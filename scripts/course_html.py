"""A small local Sphinx extension for the book's HTML (loaded by _config.yml).

- Removes duplicate ``<script>`` entries from every page. sphinx-thebe 0.3.1 on
  Sphinx 7.4 registers its inline configuration script twice, and the second copy
  fails in the browser ("Identifier 'THEBE_JS_URL' has already been declared").
- Gives the colour mode a valid default. sphinx-book-theme 1.3 renders an empty
  default mode, so on a reader's first visit pydata-sphinx-theme logs "Got invalid
  theme mode" as a console error; this script sets "auto" before the theme reads it.
"""

from __future__ import annotations

from typing import Any


def _script_key(script: Any) -> tuple:
    filename = getattr(script, "filename", script)
    attributes = getattr(script, "attributes", {})
    # The same inline script may be registered with filename None and with "".
    return (str(filename or ""), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


DEFAULT_MODE_JS = (
    "if (!document.documentElement.dataset.mode) "
    "{ document.documentElement.dataset.mode = 'auto'; }"
)


def setup(app) -> dict[str, Any]:
    app.add_js_file(None, body=DEFAULT_MODE_JS, priority=100)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
