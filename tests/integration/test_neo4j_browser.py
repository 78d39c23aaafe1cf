"""Neo4j Browser, as a user meets it: headless Chromium connects to the managed server, our style
and guide load by themselves, and a lineage query is drawn with our captions and colours.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make`` installs them when run as root)
and the managed server (Browser is served by it). Saves screenshots (1400x1000, to fit a
1920x1080 screen) of the page after connecting and of the lineage; with
``PROVGRAPH_SCREENSHOTS=1`` also to ``docs/images/neo4j-browser-connected.png`` and
``docs/images/neo4j-browser.png``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance_graph.cli.query import cypher_literal
from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, write_plan
from provenance_graph.synthetic import drp_plan
from tests.support.browser import NEEDS_CHROMIUM, chromium, shown

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "neo4j-browser.png"
QUANTUM_FILL, DATASET_FILL = "#EEEEEE", "#BBDEFB"  # pending quanta, datasets: server/browser/provgraph.grass

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium(1400, 1000) as driver:
        yield driver


def _connect_and_see_the_guide(driver: Any, server: ManagedServer, tmp_path: Path) -> Path:
    """Log in as a user does; the guide must open by itself, above the style's frame."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(driver, 90)
    driver.get(server.browser_url)
    # The form is in the page before it can be used (it fades in): wait for it to be.
    shown(wait, "[data-testid=connect]")
    method = Select(shown(wait, "[data-testid=authenticationMethod]"))
    method.select_by_visible_text("No authentication")  # re-selecting shows the user and password fields
    method.select_by_visible_text("Username / Password")
    user = shown(wait, "[data-testid=username]")
    user.clear()
    user.send_keys("neo4j")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=password]").send_keys(server.password())
    driver.find_element(By.CSS_SELECTOR, "[data-testid=connect]").click()

    # browser.post_connect_cmd: our style, then our guide, with no click from the user.
    wait.until(lambda d: "Execution plans and provenance of pipelines" in d.page_source)
    time.sleep(3)  # a style frame arriving late would land on top by now
    frames = driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame]")
    assert frames, "no frame after connecting"
    assert "Execution plans and provenance of pipelines" in frames[0].text, frames[0].text[:200]
    assert not any("text-color-internal" in f.text for f in frames), "the style's frame is still shown"
    connected = tmp_path / "neo4j-browser-connected.png"
    driver.save_screenshot(str(connected))
    return connected


def test_browser_connects_styles_guides_and_draws_a_lineage(
    browser: object, store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    from selenium.common.exceptions import ElementNotInteractableException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    server = ManagedServer()
    if neo4j_settings.uri != server.bolt_uri:
        pytest.skip("Neo4j Browser is checked on the managed server, which serves it and our assets")
    graph = drp_plan(
        1,
        2,
        plan_id=f"{namespace}-drp",
        output_run=f"{namespace}/drp",
        raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )
    write_plan(store, graph)
    run = graph.plan.output_run
    # A makeWarp quantum and the quantum with the longest task label of the pipeline, which
    # makes the visitSummary makeWarp reads, with their inputs and outputs.
    warp = next(q for q in graph.quanta.values() if q.task_label == "makeWarp")
    summary = next(q for q in graph.quanta.values() if q.task_label == "consolidateVisitSummary")
    # Each node's caption, whole: its task or dataset type and its data ID's human form.
    want = sorted({f"{q.task_label} {q.data_id.display()}" for q in (warp, summary)} | {
        f"{r.dataset_type.name} {r.data_id.display()}" for q in (warp, summary) for r in (*q.inputs, *q.outputs)
    })  # fmt: skip
    assert want[0] == "calexp visit=0 detector=0" and "consolidateVisitSummary visit=0" in want
    assert any(w.startswith("makeWarp tract=0 patch=") and w.endswith(" visit=0") for w in want)
    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 90)

    connected = _connect_and_see_the_guide(driver, server, tmp_path)

    def type_and_run(text: str) -> None:
        # The main editor (the first), once it takes keys: it may not while the stream settles.
        def typed(d: WebDriver) -> bool:
            try:
                d.find_element(By.CSS_SELECTOR, ".monaco-editor textarea").send_keys(text)
            except ElementNotInteractableException:
                return False
            return True

        wait.until(typed)
        ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()

    # As a user would from a --cypher printout: the value as a Browser parameter, then the query.
    type_and_run(f":params {cypher_literal({'run': run, 'quanta': [warp.id, summary.id]})}")
    wait.until(lambda d: run in d.page_source)
    type_and_run("MATCH p = (q:Quantum)-[:CONSUMES|PRODUCES]-(:Dataset) WHERE q.id IN $quanta RETURN p")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg g.node")) >= len(want))
    time.sleep(2)  # let the force layout settle before the screenshot

    nodes = driver.find_elements(By.CSS_SELECTOR, "svg g.node")
    fills = [n.find_element(By.CSS_SELECTOR, "circle.b-outline").get_attribute("fill") for n in nodes]
    captions = sorted(" ".join(n.text.split()) for n in nodes)  # the lines a caption is wrapped into
    assert sorted(fills) == sorted([QUANTUM_FILL] * 2 + [DATASET_FILL] * (len(want) - 2)), fills
    assert captions == want  # whole: no JSON, and nothing cut off
    shot = tmp_path / "neo4j-browser.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("PROVGRAPH_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.write_bytes(shot.read_bytes())
        DOCS_SCREENSHOT.with_name("neo4j-browser-connected.png").write_bytes(connected.read_bytes())
