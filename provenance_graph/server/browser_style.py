"""Our Neo4j Browser style (``browser/provgraph.grass``) as the JSON that Browser's ``:style`` takes inline.

Browser runs ``browser.post_connect_cmd`` one command after another, but ``:style URL``
fetches the file and adds its frame whenever the fetch ends, which may be after a later
``clear`` and ``play``: the style's frame (a dump of its CSS) then lands above the guide.
``:style {...}`` with the style inline, as JSON, applies it and adds its frame at once, so
``style {...}; clear; play GUIDE`` leaves the guide as the only frame, every time.

The GraSS file stays the source, and what users drop onto a Browser of their own.
"""

from __future__ import annotations

import json
from importlib import resources

from provenance_graph.errors import ConfigurationError

__all__ = ["grass_rules", "inline_style"]

GRASS_FILE = "provgraph.grass"


def grass_rules(text: str) -> dict[str, dict[str, str]]:
    """Parse GraSS: ``selector { property: value; ... }`` rules, quoted values kept whole.

    Quotes (``'`` or ``"``) may hold braces, colons and semicolons; they are dropped from
    the value, as Browser drops them.
    """
    rules: dict[str, dict[str, str]] = {}
    selector: str | None = None
    token, quote = "", ""
    body: list[str] = []
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
            else:
                token += ch
        elif ch in "'\"":
            quote = ch
        elif ch == "{" and selector is None:
            selector, token = " ".join(token.split()), ""
        elif ch == ";" and selector is not None:
            body.append(token)
            token = ""
        elif ch == "}" and selector is not None:
            body.append(token)
            rules[selector] = _properties(selector, body)
            selector, token, body = None, "", []
        elif ch in "{}":
            raise ConfigurationError(f"GraSS: unexpected {ch!r} near {token.strip()[-40:]!r}")
        else:
            token += ch
    if selector is not None or quote or token.strip():
        raise ConfigurationError(f"GraSS: unfinished rule near {token.strip()[-40:]!r}")
    return rules


def _properties(selector: str, declarations: list[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for declaration in declarations:
        if not declaration.strip():
            continue
        name, colon, value = declaration.partition(":")
        if not colon or not name.strip():
            raise ConfigurationError(f"GraSS: {selector}: {declaration.strip()!r} is not 'property: value'")
        props[name.strip()] = value.strip()
    return props


def inline_style() -> str:
    """Our packaged style, as compact JSON for ``:style`` (no semicolon outside a string)."""
    text = resources.files("provenance_graph.server").joinpath("browser", GRASS_FILE).read_text()
    return json.dumps(grass_rules(text), separators=(",", ":"))
