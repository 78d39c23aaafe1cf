"""The explorer's graph answers refuse to carry more than 500 elements, whatever a route builds."""

from __future__ import annotations

import pydantic
import pytest

from provenance_graph.api.models import MAX_ELEMENTS, GraphElements, edge, keyed_node


def test_a_graph_answer_of_more_than_500_elements_cannot_be_built() -> None:
    nodes = [keyed_node("quantum", f"q{i}", "isr", f'{{"detector":{i}}}', "pending") for i in range(300)]
    edges = [edge(f"q{i}", f"d{i}", "PRODUCES") for i in range(MAX_ELEMENTS - len(nodes))]
    assert GraphElements(nodes=nodes, edges=edges).elements == MAX_ELEMENTS
    with pytest.raises(pydantic.ValidationError, match="501 graph elements"):
        GraphElements(nodes=nodes, edges=[*edges, edge("q0", "d-extra", "CONSUMES")])


def test_a_node_gives_its_data_id_as_an_object_and_in_its_human_form() -> None:
    found = keyed_node("dataset", "d1", "calexp", '{"detector":1,"instrument":"DemoCam","visit":2}', "exists")
    assert found.data_id == {"detector": 1, "instrument": "DemoCam", "visit": 2}
    assert found.data_id_display == "visit=2 detector=1"
