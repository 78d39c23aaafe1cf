"""The explorer page of ``provgraph serve``, as a new user meets it in a real browser.

Headless Debian Chromium (1280x800, a laptop's screen) opens the page served by the real
``provgraph serve`` over the demo plan run with one detector's bias corrupted (its isr quanta
fail and block what lies downstream). The dashboard's task rows must say what
``provgraph status --json`` says; a coadd found by its type and data ID is expanded twice up
through the lineage explorer; the failure view shows the failed quanta and leads into the
explorer. On a synthetic plan of 240 detector images, a node with too many neighbours and a
level with too many new nodes come as groups with counts. Saves screenshots in the test's
directory; with ``PROVGRAPH_SCREENSHOTS=1`` also the dashboard's and the explorer's to
``docs/images/explorer-dashboard.png`` and ``docs/images/explorer-lineage.png``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provenance_graph.demo import demo_pipeline_path
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, write_plan
from provenance_graph.synthetic import drp_plan
from tests.integration.test_cli import PROVGRAPH, _env_for, run
from tests.support.bad_bias import BAD_DETECTOR
from tests.support.browser import NEEDS_CHROMIUM, chromium, shown
from tests.support.serve import free_port, wait_until_listening

# With test_api.py on one worker under 'make test': the session's bad-bias run is made once.
pytestmark = [pytest.mark.browser, pytest.mark.slow, NEEDS_CHROMIUM, pytest.mark.xdist_group("bad-bias")]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def page_url(neo4j_settings: ConnectionSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``provgraph serve`` on a free loopback port, as a real process: the page's URL."""
    port = free_port()
    env = {**os.environ, **_env_for(neo4j_settings)}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as err:
        server = subprocess.Popen(
            [PROVGRAPH, "serve", "--port", str(port)], stdout=err, stderr=err, text=True, env=env
        )
    try:
        wait_until_listening(server, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.fixture
def driver() -> Iterator[Any]:
    with chromium(1280, 800) as browser:
        yield browser


def _api(url: str, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api{path}?{query}", timeout=60) as answer:
        return json.load(answer)


def _ready(driver: Any, wait: Any, hash_: str) -> None:
    """Wait until the page has drawn the route ``hash_``."""
    wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == hash_)


def _shown_nodes(driver: Any) -> list[str]:
    """The captions of the nodes the explorer draws, from its text list beside the graph.

    Read in one script: the page replaces the list after each step, stale to a slower reader.
    """
    script = "return [...document.querySelectorAll('#shown-list li')].map((li) => li.textContent)"
    return sorted(str(c) for c in driver.execute_script(script))


def test_the_page_shows_the_dashboard_a_lineage_and_the_failures(
    driver: Any, page_url: str, bad_bias_plan: str, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 90)
    try:
        dashboard = _dashboard_says_what_status_says(
            driver, wait, page_url, bad_bias_plan, neo4j_settings, tmp_path
        )
        lineage = _a_coadd_expanded_twice(driver, wait, page_url, tmp_path)
        failures = _failures_lead_into_the_explorer(driver, wait, bad_bias_plan, tmp_path)
    except Exception:
        print("page state:", driver.find_element(By.ID, "state").text)  # an API error, as the page shows it
        print("browser log:", driver.get_log("browser"))
        raise
    for shot in (dashboard, lineage, failures):
        assert shot.stat().st_size > 10_000
    if os.environ.get("PROVGRAPH_SCREENSHOTS") == "1":
        (DOCS_IMAGES / dashboard.name).write_bytes(dashboard.read_bytes())
        (DOCS_IMAGES / lineage.name).write_bytes(lineage.read_bytes())


def _dashboard_says_what_status_says(
    driver: Any, wait: Any, page_url: str, plan: str, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> Path:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # The dashboard: every task row, in pipeline order, with the counts of 'provgraph status'.
    driver.get(f"{page_url}/#/plans/{plan}")
    _ready(driver, wait, f"#/plans/{plan}")
    shown(wait, "#tasks tr.task")
    status = run(["status", plan, "--json"], neo4j_settings)
    assert status.returncode == 1, status.stderr  # quanta failed: the plan needs a rerun
    want = {
        task: {s: n for s, n in counts.items() if n}
        for task, counts in json.loads(status.stdout)["tasks"].items()
    }
    rows = driver.find_elements(By.CSS_SELECTOR, "#tasks tr.task")
    seen = {
        row.get_attribute("data-task"): {
            c.get_attribute("data-status"): int(c.text)
            for c in row.find_elements(By.CSS_SELECTOR, "td.count")
            if c.text
        }
        for row in rows
    }
    assert seen == want
    order = list(yaml.safe_load(demo_pipeline_path().read_text())["tasks"])
    assert [r.get_attribute("data-task") for r in rows] == order
    for row in rows:  # each bar: one segment per status, drawn as wide as its share
        counts = want[str(row.get_attribute("data-task"))]
        total = int(row.find_element(By.CSS_SELECTOR, "td.total").text)
        assert total == sum(counts.values())
        bar_width = row.find_element(By.CSS_SELECTOR, "td.bar div").size["width"]
        segments = {
            str(s.get_attribute("class")).removeprefix("s-"): s.size["width"] / bar_width
            for s in row.find_elements(By.CSS_SELECTOR, "td.bar span")
        }
        assert segments.keys() == counts.keys()
        assert all(abs(share - counts[s] / total) < 0.02 for s, share in segments.items()), segments
    # The heat map by detector: isr at the bad detector is failed, red.
    Select(shown(wait, "#dimension")).select_by_value("detector")
    cell = wait.until(
        lambda d: next(
            iter(
                d.find_elements(
                    By.CSS_SELECTOR, f"#heatmap tr[data-task=isr] td.cell:nth-child({BAD_DETECTOR + 2})"
                )
            ),
            False,
        )
    )
    assert "s-failed" in str(cell.get_attribute("class")) and cell.text == "2"
    [execution] = driver.find_elements(By.CSS_SELECTOR, "#executions tr.execution")
    assert "failed" in execution.text
    dashboard = tmp_path / "explorer-dashboard.png"
    driver.save_screenshot(str(dashboard))

    return dashboard


def _a_coadd_expanded_twice(driver: Any, wait: Any, page_url: str, tmp_path: Path) -> Path:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # A coadd's lineage, found by its type and human data ID, expanded twice up.
    shown(wait, "#to-lineage").click()
    _ready(driver, wait, "#/lineage")
    Select(shown(wait, "#search-kind")).select_by_value("dataset_type")
    shown(wait, "#search-name").send_keys("deepCoadd")
    shown(wait, "#search-data-id").send_keys("band=r")
    shown(wait, "#search-go").click()
    result = shown(wait, "#results button.result")
    coadd = str(result.text)
    assert coadd.startswith("deepCoadd tract=") and "band=r" in coadd and "{" not in coadd
    coadd_id = str(result.get_attribute("data-id"))
    result.click()
    _ready(driver, wait, f"#/lineage/{coadd_id}")
    assert _shown_nodes(driver) == [coadd]
    shown(wait, "#expand-up").click()
    wait.until(lambda d: len(_shown_nodes(d)) == 2)
    [producer_caption] = [c for c in _shown_nodes(driver) if c != coadd]
    assert producer_caption == "assembleCoadd" + coadd.removeprefix("deepCoadd")
    shown(wait, "#expand-up").click()
    up = _api(page_url, f"/nodes/{coadd_id}/neighbours", direction="up")
    inputs = _api(page_url, f"/nodes/{up['nodes'][1]['id']}/neighbours", direction="up")
    want_nodes = sorted(
        {coadd, producer_caption} | {f"{n['name']} {n['data_id_display']}" for n in inputs["nodes"][1:]}
    )
    wait.until(lambda d: _shown_nodes(d) == want_nodes)
    assert any(c.startswith("warp tract=") for c in want_nodes)  # the coadd's inputs
    assert int(driver.find_element(By.ID, "graph").get_attribute("data-nodes")) == len(want_nodes)
    lineage = tmp_path / "explorer-lineage.png"
    driver.save_screenshot(str(lineage))

    return lineage


def _failures_lead_into_the_explorer(driver: Any, wait: Any, plan: str, tmp_path: Path) -> Path:
    from selenium.webdriver.common.by import By

    # The failure view: the failed isr quanta of the bad detector, each leading into the explorer.
    shown(wait, "#to-failures").click()
    _ready(driver, wait, f"#/plans/{plan}/failures")
    [group] = driver.find_elements(By.CSS_SELECTOR, "#failure-groups .group")
    assert group.get_attribute("data-task") == "isr"
    failures = group.find_elements(By.CSS_SELECTOR, "tr.failure")
    assert len(failures) == 2
    for row in failures:
        shown_id = row.find_elements(By.TAG_NAME, "td")[0].text
        assert shown_id.startswith("exposure=") and shown_id.endswith(f" detector={BAD_DETECTOR}")
        assert row.find_element(By.CSS_SELECTOR, "td.error").text
    causes = group.find_element(By.CSS_SELECTOR, "p.causes").text  # asked for after the groups
    assert causes.startswith("likely causes: ") and "bias" in causes, causes
    failed_view = tmp_path / "explorer-failures.png"
    driver.save_screenshot(str(failed_view))
    link = shown(wait, "#failure-groups tr.failure a.to-lineage")
    link.click()
    wait.until(lambda d: str(d.execute_script("return document.body.dataset.ready")).startswith("#/lineage/"))
    [start] = _shown_nodes(driver)
    assert start.startswith("isr exposure=") and start.endswith(f" detector={BAD_DETECTOR}")
    assert "failed" in shown(wait, "#selected dl").text

    return failed_view


def _wide_plan(store: GraphStore, namespace: str) -> str:
    """A synthetic plan of 6 visits x 40 detectors: 240 forcedPhotCcd quanta read its one objectTable_tract."""
    plan = f"{namespace}-wide"
    graph = drp_plan(6, 40, plan_id=plan, output_run=f"{namespace}/wide", raw_run=f"{namespace}/raw",
                     calib_run=f"{namespace}/calib")  # fmt: skip
    write_plan(store, graph)
    return plan


def _start_at(driver: Any, wait: Any, page_url: str, plan: str, dataset_type: str) -> str:
    """Open the plan, search its one dataset of ``dataset_type`` in the explorer and start there: its caption."""
    from selenium.webdriver.support.ui import Select

    driver.get(f"{page_url}/#/plans/{plan}")
    _ready(driver, wait, f"#/plans/{plan}")
    shown(wait, "#to-lineage").click()
    _ready(driver, wait, "#/lineage")
    Select(shown(wait, "#search-kind")).select_by_value("dataset_type")
    shown(wait, "#search-name").send_keys(dataset_type)
    shown(wait, "#search-go").click()
    result = shown(wait, "#results button.result")
    caption = str(result.text)
    result.click()
    wait.until(lambda d: _shown_nodes(d) == [caption])
    return caption


def test_a_node_with_too_many_neighbours_shows_groups_listed_page_by_page(
    driver: Any, page_url: str, store: GraphStore, namespace: str
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 90)
    table = _start_at(driver, wait, page_url, _wide_plan(store, namespace), "objectTable_tract")
    shown(wait, "#expand-down").click()
    group = "forcedPhotCcd \u00d7240 pending 240"
    wait.until(lambda d: _shown_nodes(d) == sorted([table, group]))
    shown(wait, "#shown summary").click()  # the nodes as text, to pick the group from
    shown(wait, '#shown-list li[data-id^="group:"]').click()
    shown(wait, "#list-group").click()  # the first 200, the group standing for the rest
    wait.until(lambda d: len(_shown_nodes(d)) == 1 + 200 + 1)
    assert group in _shown_nodes(driver)
    shown(wait, "#list-group").click()
    wait.until(lambda d: len(_shown_nodes(d)) == 1 + 240)
    names = [c.split(" ")[0] for c in _shown_nodes(driver)]
    assert names.count("forcedPhotCcd") == 240 and group not in _shown_nodes(driver)


def test_a_level_of_more_than_300_new_nodes_comes_as_task_level_groups(
    driver: Any, page_url: str, store: GraphStore, namespace: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 90)
    _start_at(driver, wait, page_url, _wide_plan(store, namespace), "objectTable_tract")
    sizes = []
    for level in range(1, 13):  # up from the tract's table to the 240 calibrate quanta's inputs
        shown(wait, "#expand-up").click()
        wait.until(
            lambda d, n=str(level): d.find_element(By.ID, "graph").get_attribute("data-expansions") == n
        )
        sizes.append(len(_shown_nodes(driver)))
    groups = [n for n in _shown_nodes(driver) if "\u00d7" in n]
    assert all(b - a <= 300 for a, b in itertools.pairwise(sizes[:-1]))  # each level drawn node by node
    # The 12th would add 480 new datasets: two groups of 240 instead; calexps already shown stay.
    assert groups == ["icExp \u00d7240 unknown 240", "icSrc \u00d7240 unknown 240"]
    assert sizes[-1] == sizes[-2] + 2
    assert "groups" in driver.find_element(By.ID, "state").text


def test_a_heat_map_of_more_values_than_fit_shows_ranges_within_the_window(
    driver: Any, page_url: str, store: GraphStore, namespace: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(driver, 90)
    plan = _wide_plan(store, namespace)  # 40 detectors: more columns than a 1280-pixel window holds
    driver.get(f"{page_url}/#/plans/{plan}")
    _ready(driver, wait, f"#/plans/{plan}")
    Select(shown(wait, "#dimension")).select_by_value("detector")
    wait.until(lambda d: d.find_element(By.ID, "heat-without").text.startswith("40 values of detector,"))
    assert "40 values of detector, up to 2 a column." in driver.find_element(By.ID, "heat-without").text
    heads = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#heatmap th")][1:]
    assert heads == [f"{i}..{i + 1}" for i in range(0, 40, 2)]
    isr = driver.find_elements(By.CSS_SELECTOR, "#heatmap tr[data-task=isr] td.cell")
    assert [c.text for c in isr] == ["12"] * 20  # 6 visits x 2 detectors a column, all pending
    width = driver.execute_script("return document.getElementById('heatmap').getBoundingClientRect().right")
    assert width <= driver.execute_script("return document.documentElement.clientWidth"), width
