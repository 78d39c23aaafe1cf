"""Our Browser style, read from provgraph.grass, becomes the inline JSON of ``:style``."""

from __future__ import annotations

import json

import pytest

from provenance_graph.errors import ConfigurationError
from provenance_graph.server.browser_style import grass_rules, inline_style


def test_quoted_values_keep_their_braces_colons_and_semicolons() -> None:
    rules = grass_rules(
        "node.Quantum {\n  color: #EEEEEE;\n  caption: '{task}: a; b';\n}\nrelationship { shaft-width: 1px }"
    )
    assert rules == {
        "node.Quantum": {"color": "#EEEEEE", "caption": "{task}: a; b"},
        "relationship": {"shaft-width": "1px"},
    }


@pytest.mark.parametrize(
    "text",
    ["node { color: #fff;", "node { color #fff; }", "node { caption: '{task} }", "}", "node { a: b; } c"],
)
def test_a_broken_rule_is_an_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="GraSS"):
        grass_rules(text)


def test_the_packaged_style_goes_inline_with_no_semicolon_outside_a_string() -> None:
    text = inline_style()
    style = json.loads(text)
    assert style["node.Quantum"]["caption"] == "{task} {data_id_display}"
    assert style["node.Failed"]["color"] == "#F28B82"
    # Browser splits browser.post_connect_cmd at semicolons outside quotes: none may be there.
    outside = "".join(part for i, part in enumerate(text.split('"')) if i % 2 == 0)
    assert ";" not in outside and "'" not in text and "`" not in text
