"""``provgraph serve``'s HTTP JSON API against a real run, as the explorer page and scripts use it.

One demo repository of 2 visits x 3 detectors, whose detector 1 bias has NaN pixels, is
planned and run by the real ``provgraph run``: the isr quanta of detector 1 fail and block
what lies downstream. The API (FastAPI's TestClient, in this process, on the suite's Neo4j)
is checked against plain Cypher over the same graph; every graph answer is checked to carry
at most 500 elements. One test starts the real ``provgraph serve`` beyond loopback.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from provenance_graph.api import Access, create_app
from provenance_graph.demo import demo_pipeline_path
from provenance_graph.errors import DatabaseError
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, open_store, write_plan
from provenance_graph.synthetic import drp_plan
from tests.integration.test_cli import PROVGRAPH, _env_for
from tests.support.bad_bias import BAD_DETECTOR
from tests.support.graph_checks import rows
from tests.support.serve import free_port, wait_until_listening

# One worker under 'make test' for both readers of the session's bad-bias run: it runs once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("bad-bias")]

MAX_ELEMENTS = 500


@pytest.fixture
def plan_id(bad_bias_plan: str) -> str:
    """A demo plan run by ``provgraph run``, the isr quanta of one detector failed (a corrupt bias)."""
    return bad_bias_plan


@pytest.fixture(scope="module")
def client(store: GraphStore) -> Iterator[TestClient]:
    """The read-only API over the suite's store, on loopback: no authentication."""
    app = create_app(store, Access(required=False, user=store.settings.user))
    with TestClient(app) as test_client:
        yield test_client


def get(client: TestClient, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


def bounded(answer: dict[str, Any]) -> dict[str, Any]:
    """A graph answer, checked to carry at most 500 nodes, edges and groups."""
    elements = len(answer["nodes"]) + len(answer["edges"]) + len(answer["groups"])
    assert elements == answer["elements"] <= MAX_ELEMENTS
    return answer


def test_the_dashboard_reads_tasks_in_pipeline_order_and_a_heat_map(
    client: TestClient, store: GraphStore, plan_id: str
) -> None:
    listed = get(client, "/api/plans")
    assert any(p["id"] == plan_id and p["execution"] == "failed" for p in listed)
    counts = {
        (r["task"], r["status"]): r["n"]
        for r in rows(
            store,
            "MATCH (q:Quantum {plan_id: $p}) RETURN q.task AS task, coalesce(q.status, 'pending') AS status, count(*) AS n",
            p=plan_id,
        )
    }
    tasks = get(client, f"/api/plans/{plan_id}/tasks")
    order = list(yaml.safe_load(demo_pipeline_path().read_text())["tasks"])
    assert [t["task"] for t in tasks["tasks"]] == order
    assert {(t["task"], s): n for t in tasks["tasks"] for s, n in t["counts"].items()} == counts
    assert "failed" in tasks["statuses"] and "blocked" in tasks["statuses"]

    heat = get(client, f"/api/plans/{plan_id}/heatmap", dimension="detector")
    assert heat["tasks"] == [t for t in order if t in heat["tasks"]]
    assert heat["values"] == [0, 1, 2]
    isr = {c["value"]: c["counts"] for c in heat["cells"] if c["task"] == "isr"}
    assert isr[BAD_DETECTOR] == {"failed": 2}
    assert isr[0] == {"succeeded": 2}
    per_task: dict[str, int] = {}
    for cell in heat["cells"]:
        per_task[cell["task"]] = per_task.get(cell["task"], 0) + sum(cell["counts"].values())
    assert per_task == {t: sum(n for (tk, _), n in counts.items() if tk == t) for t in heat["tasks"]}
    assert heat["without_dimension"]  # the coadd tasks run per patch
    assert (heat["per_column"], heat["distinct"]) == (1, 3)

    # More values than columns: consecutive values share a column, named by its range.
    narrow = get(client, f"/api/plans/{plan_id}/heatmap", dimension="detector", columns=2)
    assert (narrow["values"], narrow["per_column"], narrow["distinct"]) == (["0..1", 2], 2, 3)
    isr_narrow = {c["value"]: c["counts"] for c in narrow["cells"] if c["task"] == "isr"}
    for column, values in (("0..1", (0, 1)), (2, (2,))):
        summed: dict[str, int] = {}
        for v in values:
            for status, n in isr.get(v, {}).items():
                summed[status] = summed.get(status, 0) + n
        assert isr_narrow[column] == summed
    get(client, f"/api/plans/{plan_id}/heatmap", 422, dimension="detector", columns=0)

    wrong = get(client, f"/api/plans/{plan_id}/heatmap", 422, dimension="detectr")
    assert "'detectr'" in wrong["error"] and "detector" in wrong["hint"]

    [execution] = get(client, f"/api/plans/{plan_id}/executions")
    assert execution["attempts"]["failed"] == 2


def test_the_failure_view_groups_failures_by_task_and_error(
    client: TestClient, store: GraphStore, plan_id: str
) -> None:
    found = get(client, f"/api/plans/{plan_id}/failures")
    assert found["failed"] == 2
    [group] = found["groups"]
    assert group["task"] == "isr" and group["count"] == 2
    assert "bias" in group["error"].lower() or "finite" in group["error"].lower()
    for failure in group["failures"]:
        assert failure["data_id"]["detector"] == BAD_DETECTOR
        assert (
            failure["data_id_display"] == f"exposure={failure['data_id']['exposure']} detector={BAD_DETECTOR}"
        )
        assert failure["attempt"] == 1
    blocked = rows(
        store, "MATCH (q:Quantum {plan_id: $p, status: 'blocked'}) RETURN count(*) AS n", p=plan_id
    )
    assert found["blocked"] + sum(found["blocked_elsewhere"].values()) == blocked[0]["n"] > 0

    # The page asks for the groups without causes, then for each group's causes apart: the same.
    quick = get(client, f"/api/plans/{plan_id}/failures", causes=0)
    assert [g["causes"] for g in quick["groups"]] == [[]]
    assert {**quick["groups"][0], "causes": group["causes"]} == group
    causes = get(
        client, f"/api/plans/{plan_id}/failures/causes", task=group["task"], signature=group["signature"]
    )
    assert causes["causes"] == group["causes"] and group["causes"]
    assert any(c["name"] == "bias" for c in causes["causes"])
    wrong = get(client, f"/api/plans/{plan_id}/failures/causes", 404, task="calibrate", signature="x")
    assert "'calibrate'" in wrong["error"] and group["signature"] in wrong["hint"]


def test_the_explorer_searches_and_expands_one_level_at_a_time(
    client: TestClient, store: GraphStore, plan_id: str
) -> None:
    [coadd] = rows(
        store,
        "MATCH (d:Dataset {plan_id: $p, dataset_type: 'deepCoadd'}) "
        "RETURN d.id AS id, d.data_id_display AS shown ORDER BY d.data_id LIMIT 1",
        p=plan_id,
    )
    found = bounded(
        get(client, "/api/search", dataset_type="deepCoadd", data_id=coadd["shown"], run=f"{plan_id}/out")
    )
    [node] = found["nodes"]
    assert node["id"] == coadd["id"] and node["data_id_display"] == coadd["shown"]
    assert node["data_id"]["skymap"] == "demo" and not found["truncated"]

    up = bounded(get(client, f"/api/nodes/{node['id']}/neighbours", direction="up"))
    assert up["relationship"] == "PRODUCES" and not up["grouped"]
    [center, producer] = up["nodes"]
    assert center["id"] == node["id"] and producer["kind"] == "quantum"
    assert up["edges"] == [{"source": producer["id"], "target": node["id"], "relationship": "PRODUCES"}]

    inputs = bounded(get(client, f"/api/nodes/{producer['id']}/neighbours", direction="up"))
    expected = rows(
        store, "MATCH (:Quantum {id: $q})-[:CONSUMES]->(d:Dataset) RETURN d.id AS id", q=producer["id"]
    )
    assert {n["id"] for n in inputs["nodes"][1:]} == {r["id"] for r in expected}
    assert len(inputs["edges"]) == len(expected) == inputs["total"]

    # More than the limit: task-level groups with counts, then one group page by page.
    [busy] = rows(
        store,
        "MATCH (:Quantum {plan_id: $p})-[:CONSUMES]->(d:Dataset) WITH DISTINCT d "
        "MATCH (q:Quantum)-[:CONSUMES]->(d) WHERE EXISTS { MATCH (:Plan {id: q.plan_id, status: 'complete'}) } "
        "RETURN d.id AS id, count(q) AS readers ORDER BY readers DESC, id LIMIT 1",  # readers of every plan
        p=plan_id,
    )
    assert busy["readers"] > 2
    grouped = bounded(get(client, f"/api/nodes/{busy['id']}/neighbours", direction="down", limit=2))
    assert grouped["grouped"] and len(grouped["nodes"]) == 1 and not grouped["edges"]
    assert sum(g["total"] for g in grouped["groups"]) == grouped["total"] == busy["readers"]
    assert {g["kind"] for g in grouped["groups"]} == {"quantum"}
    biggest = max(grouped["groups"], key=lambda g: g["total"])
    pages: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = bounded(
            get(
                client,
                f"/api/nodes/{busy['id']}/neighbours",
                direction="down",
                group=biggest["name"],
                limit=1,
                offset=offset,
            )
        )
        assert len(page["nodes"]) == 2 and page["edges"][0]["target"] == busy["id"]
        pages += [n["id"] for n in page["nodes"][1:]]
        offset = page["next_offset"]
    assert len(pages) == len(set(pages)) == biggest["total"]

    quanta = bounded(get(client, "/api/search", task="isr", data_id=f"detector={BAD_DETECTOR}", plan=plan_id))
    assert {q["status"] for q in quanta["nodes"]} == {"failed"} and len(quanta["nodes"]) == 2


def test_lineage_and_impact_list_their_nodes_within_the_bound(
    client: TestClient, store: GraphStore, plan_id: str
) -> None:
    [coadd] = rows(
        store,
        "MATCH (d:Dataset {plan_id: $p, dataset_type: 'deepCoadd'}) RETURN d.id AS id ORDER BY d.data_id LIMIT 1",
        p=plan_id,
    )
    lineage = bounded(get(client, "/api/lineage", dataset=coadd["id"]))
    assert lineage["listed"] and lineage["direction"] == "upstream"
    assert lineage["summary"]["quanta"] == sum(1 for n in lineage["nodes"] if n["kind"] == "quantum")
    assert all(n["level"] is not None and "data_id_display" in n for n in lineage["nodes"])
    shallow = bounded(get(client, "/api/lineage", dataset=coadd["id"], depth=1))
    assert {n["name"] for n in shallow["nodes"] if n["kind"] == "quantum"} == {"assembleCoadd"}
    raw = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p, task: 'isr'})-[:CONSUMES]->(d:Dataset {dataset_type: 'raw'}) "
        "RETURN d.id AS id LIMIT 1",
        p=plan_id,
    )
    impact = bounded(get(client, "/api/impact", dataset=raw[0]["id"]))
    assert impact["direction"] == "downstream" and impact["summary"]["quanta"] > 0
    deps = get(client, f"/api/quanta/{lineage['nodes'][0]['id']}/dependencies")
    assert deps["listed"] and deps["parents"]["total"] == len(deps["parents"]["nodes"])
    failed = get(client, "/api/search", task="isr", data_id=f"detector={BAD_DETECTOR}", plan=plan_id)
    history = get(client, "/api/history", data_id=failed["nodes"][0]["data_id_display"])
    assert [(r["task"], r["status"]) for r in history if r["plan_id"] == plan_id] == [("isr", "failed")]
    assert history[0]["data_id"]["instrument"] == "DemoCam" and history[0]["data_id_display"]


def test_large_answers_are_counted_and_paged_within_the_bound(
    client: TestClient, store: GraphStore, namespace: str
) -> None:
    plan = f"{namespace}-big"
    graph = drp_plan(6, 40, plan_id=plan, output_run=f"{namespace}/big", raw_run=f"{namespace}/raw",
                     calib_run=f"{namespace}/calib")  # fmt: skip
    write_plan(store, graph)
    [table] = rows(
        store, "MATCH (d:Dataset {plan_id: $p, dataset_type: 'objectTable_tract'}) RETURN d.id AS id", p=plan
    )
    lineage = bounded(get(client, "/api/lineage", dataset=table["id"]))
    assert not lineage["listed"] and not lineage["nodes"] and lineage["summary"]["quanta"] > MAX_ELEMENTS
    assert lineage["summary"]["tasks"]["isr"] == {"pending": 240}

    readers = bounded(get(client, f"/api/nodes/{table['id']}/neighbours", direction="down"))
    assert readers["grouped"] and readers["total"] == 240 and readers["elements"] == 2
    assert readers["groups"] == [
        {"kind": "quantum", "name": "forcedPhotCcd", "counts": {"pending": 240}, "total": 240}
    ]
    first = bounded(
        get(client, f"/api/nodes/{table['id']}/neighbours", direction="down", group="forcedPhotCcd")
    )
    assert (len(first["nodes"]), len(first["edges"]), first["next_offset"]) == (201, 200, 200)
    assert first["elements"] == 402 <= MAX_ELEMENTS
    rest = bounded(
        get(
            client,
            f"/api/nodes/{table['id']}/neighbours",
            direction="down",
            group="forcedPhotCcd",
            offset=200,
        )
    )
    assert len(rest["nodes"]) == 41 and rest["next_offset"] is None
    assert not {n["id"] for n in first["nodes"][1:]} & {n["id"] for n in rest["nodes"][1:]}

    many = bounded(get(client, "/api/search", task="isr", plan=plan, limit=MAX_ELEMENTS))
    assert len(many["nodes"]) == 240 and not many["truncated"]
    detector = many["nodes"][0]["data_id"]["detector"]  # one detector: 6 exposures, 6 quanta
    few = bounded(get(client, "/api/search", task="isr", plan=plan, data_id=f"detector={detector}", limit=5))
    assert len(few["nodes"]) == 5 and few["truncated"]
    assert {n["data_id"]["detector"] for n in few["nodes"]} == {detector}
    get(client, "/api/search", 422, task="isr", limit=MAX_ELEMENTS + 1)
    [producer] = rows(
        store, "MATCH (q:Quantum {plan_id: $p, task: 'consolidateObjectTable'}) RETURN q.id AS id", p=plan
    )
    deps = get(client, f"/api/quanta/{producer['id']}/dependencies")
    assert deps["listed"] and deps["children"]["total"] == 240 == len(deps["children"]["nodes"])


def test_every_plan_answer_is_json_of_the_store_function(client: TestClient, plan_id: str) -> None:
    summary = get(client, f"/api/plans/{plan_id}")
    assert summary["plan"]["id"] == plan_id and summary["quanta"] == sum(summary["task_counts"].values())
    dims = get(client, f"/api/plans/{plan_id}/dimensions")
    assert "detector" in dims["tasks"]["isr"] and "patch" in dims["dimensions"]
    overview = get(client, f"/api/plans/{plan_id}/overview")
    assert {i["dataset_type"] for i in overview["initial_inputs"]} >= {"raw", "bias"}
    assert any(r["status"] == "failed" for r in get(client, f"/api/plans/{plan_id}/missing"))
    get(client, f"/api/plans/{plan_id}/notes")
    part = get(client, f"/api/plans/{plan_id}/subgraph", task="isr", where=f"detector = {BAD_DETECTOR}")
    assert part["quanta"] == {"isr": 2} and len(part["quantum_ids"]) == 2 and part["listed"]
    stats = get(client, f"/api/plans/{plan_id}/stats")
    assert {g["key"]["task"] if isinstance(g["key"], dict) else g["key"][0] for g in stats["groups"]} >= {
        "isr"
    }
    assert get(client, f"/api/plans/{plan_id}/footprint")["plan_id"] == plan_id
    suspects = get(client, f"/api/plans/{plan_id}/suspects", dataset_type="calexp", bad_at="detector=0")
    assert suspects["bad"] and all("score" in s for s in suspects["suspects"])
    same = get(client, "/api/diff", old=plan_id, new=plan_id)
    assert same["same"] and same["counts"] == {"added": 0, "removed": 0, "changed": 0}
    assert get(client, "/api")["allow_writes"] is False
    paths = get(client, "/openapi.json")["paths"]
    assert {"/api/plans/{plan_id}/heatmap", "/api/nodes/{node_id}/neighbours", "/api/search"} <= set(paths)
    assert client.get("/docs").status_code == 200
    [execution] = get(client, f"/api/plans/{plan_id}/executions")
    outputs = get(client, "/api/diff-outputs", a=execution["id"], b=execution["id"])
    assert outputs["a"]["execution_id"] == execution["id"] and outputs["counts"]["changed"] == 0
    assert outputs["same"] == outputs["a"]["outputs"] > 0


def test_the_page_and_its_modules_are_served_offline(client: TestClient, store: GraphStore) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/page.js" in page.text and "http" not in page.text.replace("http-equiv", "")  # no CDN
    for path in ("/static/page.js", "/static/page.css", "/static/vendor/cytoscape.esm.min.mjs"):
        served = client.get(path)
        assert served.status_code == 200 and served.content, path
    assert "javascript" in client.get("/static/vendor/cytoscape-dagre.min.mjs").headers["content-type"]
    assert "MATCH" not in client.get("/static/page.js").text  # the page asks the API, never Neo4j
    access = Access(required=True, user=store.settings.user, password="pw", token="t")
    with TestClient(create_app(store, access)) as guarded:
        assert guarded.get("/").status_code == 401  # the page is behind the same door as the API


def test_bad_input_is_a_json_error_naming_the_culprit_with_a_fix(client: TestClient, plan_id: str) -> None:
    missing = get(client, f"/api/plans/{plan_id}x/tasks", 404)
    assert f"{plan_id}x" in missing["error"] and plan_id in missing["hint"]  # did you mean ...?
    bad_id = get(client, "/api/search", 422, dataset_type="calexp", data_id="visit=")
    assert "visit=" in bad_id["error"] and bad_id["hint"]
    too_many = get(client, "/api/nodes/x/neighbours", 422, direction="up", limit=100_000)
    assert "'limit'" in too_many["error"] and bad_id["hint"]
    direction = get(client, "/api/nodes/x/neighbours", 422, direction="sideways")
    assert "'direction'" in direction["error"]
    nothing = get(client, "/api/nodes/nosuchnode/neighbours", 404, direction="up")
    assert "'nosuchnode'" in nothing["error"] and nothing["hint"]
    assert get(client, "/api/nowhere", 404)["hint"]


def test_writes_need_allow_writes_and_reads_open_read_only_sessions(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str
) -> None:
    plan = drp_plan(1, 1, plan_id=f"{namespace}-w", output_run=f"{namespace}/w", raw_run=f"{namespace}/raw",
                    calib_run=f"{namespace}/calib")  # fmt: skip
    write_plan(store, plan)
    with open_store(neo4j_settings, start_managed=False, read_only=True) as read_only:
        with TestClient(create_app(read_only, Access(required=False, user="neo4j"))) as client:
            refused = client.delete(f"/api/plans/{namespace}-w")
            assert refused.status_code == 403
            assert "--allow-writes" in refused.json()["hint"]
            assert get(client, f"/api/plans/{namespace}-w")["quanta"] == len(plan)
        with pytest.raises(DatabaseError, match="(?i)read"):  # the server itself refuses
            read_only.write("plan_delete_node", plan_id=f"{namespace}-w", token=None)
    with TestClient(create_app(store, Access(required=False, user="neo4j"), allow_writes=True)) as client:
        assert client.delete(f"/api/plans/{namespace}-w").json() == {"deleted": f"{namespace}-w"}
        assert client.delete(f"/api/plans/{namespace}-w").status_code == 404


def test_a_token_or_the_neo4j_credentials_authenticate(store: GraphStore) -> None:
    password = store.settings.password.get_secret_value()
    access = Access(required=True, user=store.settings.user, password=password, token="s3cret-token")
    with TestClient(create_app(store, access)) as client:
        refused = client.get("/api/plans")
        assert refused.status_code == 401 and "Bearer" in refused.headers["www-authenticate"]
        assert client.get("/docs").status_code == 401
        assert client.get("/api/plans", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert client.get("/api/plans", headers={"Authorization": "Bearer wrong"}).status_code == 401
        basic = base64.b64encode(f"{store.settings.user}:{password}".encode()).decode()
        assert client.get("/api/plans", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        wrong = base64.b64encode(f"{store.settings.user}:{password}x".encode()).decode()
        assert client.get("/api/plans", headers={"Authorization": f"Basic {wrong}"}).status_code == 401


def _status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.slow
def test_provgraph_serve_beyond_loopback_asks_everyone_to_authenticate(
    neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("a-long-random-token\n")
    token_file.chmod(0o644)
    env = {**os.environ, **_env_for(neo4j_settings)}
    port = free_port()
    command = [PROVGRAPH, "serve", "--host", "0.0.0.0", "--port", str(port), "--token-file", str(token_file)]
    refused = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert str(token_file) in line and f"chmod 600 {token_file}" in line and "Traceback" not in line

    token_file.chmod(0o600)
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}/api/plans"
        wait_until_listening(server, port)
        assert _status(url) == 401
        assert _status(url, "a-long-random-token") == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
