"""The roll-up picture of a whole plan, as a person looks at it: on one screen, with a legend,
and each task's quanta shown by status in proportion (not painted by its worst one).

Drawn with the real Graphviz from the demo DRP pipeline's tasks and dataset types; the
counts are what the server would send (`provenance_graph.store.views`).
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

import pytest

from provenance_graph.demo.repo import demo_pipeline_path
from provenance_graph.pipeline import Pipeline
from provenance_graph.store.views import Flow, TypeCount
from provenance_graph.viz import _BAR, STATUS_COLOURS, _rollup, render

pytestmark = pytest.mark.skipif(
    __import__("shutil").which("dot") is None, reason="needs Graphviz's dot (make installs it)"
)
SVG = "{http://www.w3.org/2000/svg}"


def _demo_rollup(statuses: dict[str, int]):  # type: ignore[no-untyped-def]
    pipeline = Pipeline.from_file(demo_pipeline_path())
    flows, types = [], set()
    for node in pipeline:
        for conn in node.inputs().values():
            flows.append(Flow(node.label, "CONSUMES", conn.dataset_type, 24))
            types.add(conn.dataset_type)
        for conn in node.outputs().values():
            flows.append(Flow(node.label, "PRODUCES", conn.dataset_type, 24))
            types.add(conn.dataset_type)
    tasks = {node.label: statuses for node in pipeline}
    return _rollup("plan demo: 17 quanta a task", tasks, flows, [TypeCount(t, 24, 24) for t in sorted(types)])


def test_the_demo_rollup_fits_a_1920x1080_screen_top_to_bottom() -> None:
    png = render(_demo_rollup({"succeeded": 16, "failed": 1}), "png")
    width, height = struct.unpack(">II", png[16:24])
    assert width <= 1920 and height <= 1080, (width, height)
    dot = render(_demo_rollup({"succeeded": 16, "failed": 1}), "dot").decode()
    assert "rankdir=TB" in dot


def test_a_task_box_shows_its_statuses_in_proportion_and_a_legend_says_what_they_mean() -> None:
    svg = ET.fromstring(render(_demo_rollup({"succeeded": 16, "failed": 1}), "svg"))
    nodes = {g.get("id"): g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"}
    box = nodes["task:makeWarp"]
    assert (
        "|".join(t.text or "" for t in box.iter(f"{SVG}text")) == "makeWarp|17 quanta: 1 failed, 16 succeeded"
    )
    # The bar: one cell per status, as wide as its share; the box itself is not painted red.
    widths = {}
    for polygon in box.iter(f"{SVG}polygon"):
        fill = polygon.get("fill", "")
        xs = [float(x) for x in re.findall(r"(-?[\d.]+),", polygon.get("points", ""))]
        if fill in (STATUS_COLOURS["failed"], STATUS_COLOURS["succeeded"]):
            widths[fill] = max(xs) - min(xs)
        else:
            assert fill != STATUS_COLOURS["failed"]
    failed, succeeded = widths[STATUS_COLOURS["failed"]], widths[STATUS_COLOURS["succeeded"]]
    assert failed == pytest.approx(_BAR / 17, abs=1) and succeeded == pytest.approx(_BAR * 16 / 17, abs=1)
    legend = "|".join(t.text or "" for t in nodes["legend"].iter(f"{SVG}text"))
    for status in STATUS_COLOURS:
        assert status in legend
    assert "ellipse: a dataset type" in legend and "all its datasets exist" in legend
