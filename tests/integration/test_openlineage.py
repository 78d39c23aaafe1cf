"""``provgraph export openlineage`` and PROV-O, as a user runs them on the executed demo plan.

Each event is parsed back into ``openlineage-python``'s own classes and serialised again by the
client; the runs, jobs and datasets are checked against the graph; sending goes through the
client's HTTP transport to a receiver this test starts (Marquez is not needed).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rdflib
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import RunFacet, error_message_run, parent_run, tags_run
from openlineage.client.serde import Serde

from provenance_graph.demo import make_demo_repo
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from tests.integration.test_cli import run
from tests.integration.test_run import _plan_and_run, _rows

pytestmark = pytest.mark.integration

FAIL = ("-c", "calibrate:fail_on=[{visit: 1, detector: 1}]")


def _parse(line: str) -> RunEvent:
    """An event read back into the client's own classes."""
    raw = json.loads(line)
    facets: dict[str, RunFacet] = {}
    for name, facet in raw["run"].get("facets", {}).items():
        if name == "errorMessage":
            facets[name] = error_message_run.ErrorMessageRunFacet(
                message=facet["message"],
                programmingLanguage=facet["programmingLanguage"],
                stackTrace=facet.get("stackTrace"),
                producer=facet["_producer"],
            )
        elif name == "parent":
            facets[name] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=facet["run"]["runId"]),
                job=parent_run.Job(namespace=facet["job"]["namespace"], name=facet["job"]["name"]),
                producer=facet["_producer"],
            )
        elif name == "tags":  # the client's own, added when it sends
            facets[name] = tags_run.TagsRunFacet(
                tags=[
                    tags_run.TagsRunFacetFields(t["key"], t["value"], t.get("source")) for t in facet["tags"]
                ],
                producer=facet["_producer"],
            )
        else:
            raise AssertionError(f"unexpected run facet {name}")
    return RunEvent(
        eventType=RunState(raw["eventType"]),
        eventTime=raw["eventTime"],
        producer=raw["producer"],
        run=Run(runId=raw["run"]["runId"], facets=facets),
        job=Job(namespace=raw["job"]["namespace"], name=raw["job"]["name"]),
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"]) for d in raw["inputs"]],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"]) for d in raw["outputs"]],
    )


@pytest.fixture
def ran(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> str:
    """The demo plan (1 visit x 3 detectors) run once, calibrate failing at visit 1 detector 1."""
    make_demo_repo(tmp_path / "repo", 1, 3).close()
    plan_id = f"{namespace}-ol"
    plans.append(plan_id)
    done = _plan_and_run(neo4j_settings, tmp_path / "repo", plan_id, f"{namespace}/ol", *FAIL)
    assert done.returncode == 1, done.stdout + done.stderr  # a quantum failed
    return plan_id


def test_openlineage_events_round_trip_and_match_the_graph(
    store: GraphStore, neo4j_settings: ConnectionSettings, ran: str, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    exported = run(["export", "openlineage", ran, "--out", str(out)], neo4j_settings)
    assert exported.returncode == 0, exported.stderr
    lines = out.read_text().splitlines()
    for line in lines:
        assert Serde.to_json(_parse(line)) == line  # the client's classes hold every field
    events = [json.loads(line) for line in lines]

    attempts = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN q.id AS q, q.task AS task, a.number AS n, a.status AS status, a.error AS error",
        p=ran,
    )
    graph = read_plan(store, ran)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event)
    assert len(by_run) == len(attempts)  # one run per attempt
    assert all(
        [e["eventType"] for e in pair] in (["START", "COMPLETE"], ["START", "FAIL"])
        for pair in by_run.values()
    )
    ends = Counter(pair[-1]["eventType"] for pair in by_run.values())
    statuses = Counter(a["status"] for a in attempts)
    assert ends == {"COMPLETE": statuses["succeeded"], "FAIL": statuses["failed"]}
    assert statuses["failed"] == 1
    assert Counter(p[0]["job"]["name"] for p in by_run.values()) == Counter(a["task"] for a in attempts)

    failed = next(pair[-1] for pair in by_run.values() if pair[-1]["eventType"] == "FAIL")
    error = next(a["error"] for a in attempts if a["status"] == "failed")
    assert failed["job"]["name"] == "calibrate"
    assert failed["run"]["facets"]["errorMessage"]["message"] == error
    assert "InjectedFailure" in error
    assert failed["outputs"] == []

    # Datasets: a namespace per repository, a name from run, type and human data ID.
    names = {(e["namespace"], e["name"]) for ev in events for e in ev["inputs"] + ev["outputs"]}
    expected = {
        (
            ref.repository or graph.plan.repository,
            f"{ref.run}/{ref.dataset_type.name}/{ref.data_id.display()}",
        )
        for q in graph.quanta.values()
        for ref in [*q.inputs, *q.outputs]
    }
    assert names <= expected
    assert {ns for ns, _ in names} == {graph.plan.repository}
    assert any("visit=1 detector=1" in name for _, name in names)
    assert all(e["job"]["namespace"] == f"provgraph:{ran}" for e in events)

    to_stdout = run(["export", "openlineage", ran], neo4j_settings)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout.splitlines() == lines  # stable run ids: the same events again


def test_prov_o_turtle_parses_with_rdflib(
    store: GraphStore, neo4j_settings: ConnectionSettings, ran: str
) -> None:
    turtle = run(["export", "prov", ran, "--format", "turtle"], neo4j_settings)
    assert turtle.returncode == 0, turtle.stderr
    rdf = rdflib.Graph().parse(data=turtle.stdout, format="turtle")
    prov = rdflib.Namespace("http://www.w3.org/ns/prov#")
    pg = rdflib.Namespace("https://w3id.org/provenance-graph/ns#")
    graph = read_plan(store, ran)
    activities = set(rdf.subjects(rdflib.RDF.type, prov.Activity))
    entities = set(rdf.subjects(rdflib.RDF.type, prov.Entity))
    assert activities == {pg[f"quantum-{q}"] for q in graph.quanta}
    assert {pg[f"dataset-{d}"] for d in graph.datasets} <= entities
    assert "example" not in turtle.stdout


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"path": self.path, "body": body.decode()})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server that keeps what is POSTed to it."""
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_events_are_sent_with_the_clients_http_transport_and_bad_input_is_one_line(
    neo4j_settings: ConnectionSettings,
    ran: str,
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = receiver
    written = run(["export", "openlineage", ran], neo4j_settings)
    lines = written.stdout.splitlines()

    sent = run(["export", "openlineage", ran, "--send"], neo4j_settings, OPENLINEAGE_URL=url)
    assert sent.returncode == 0, sent.stderr
    assert {r["path"] for r in received} == {"/api/v1/lineage"}
    assert [Serde.to_json(_parse(r["body"])) for r in received] == [r["body"] for r in received]
    sent_events = [json.loads(r["body"]) for r in received]
    for event in sent_events:  # the client tags what it sends with its version; nothing else differs
        assert event["run"]["facets"].pop("tags")["tags"][0]["key"] == "openlineage_client_version"
    assert sent_events == [json.loads(line) for line in lines]

    received.clear()
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: http\n  url: {url}\n  endpoint: api/v1/lineage\n")
    by_file = run(["export", "openlineage", ran, "--send"], neo4j_settings, OPENLINEAGE_CONFIG=str(config))
    assert by_file.returncode == 0, by_file.stderr
    assert len(received) == len(lines)

    def one_line_error(result: Any, *culprit: str) -> None:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3, result.stderr  # the message and its hint
        assert all(c in result.stderr for c in culprit), result.stderr

    one_line_error(run(["export", "openlineage", "no-such-plan"], neo4j_settings), "no-such-plan")
    kept = tmp_path / "kept.jsonl"
    kept.write_text("an earlier export\n")
    one_line_error(
        run(["export", "openlineage", "no-such-plan", "--out", str(kept)], neo4j_settings), "no-such-plan"
    )
    assert kept.read_text() == "an earlier export\n"  # a failed export leaves the file it would replace
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # and no partial file
    one_line_error(
        run(["export", "openlineage", ran, "--out", str(tmp_path / "missing" / "x.jsonl")], neo4j_settings),
        "missing/x.jsonl",
        "writable",
    )
    one_line_error(
        run(["export", "openlineage", ran, "--url", "http://127.0.0.1:9"], neo4j_settings),
        "http://127.0.0.1:9",
        "endpoint",
    )
    nowhere = {"OPENLINEAGE_URL": "", "OPENLINEAGE_CONFIG": str(tmp_path / "none.yml")}
    one_line_error(
        run(["export", "openlineage", ran, "--send"], neo4j_settings, **nowhere), "OPENLINEAGE_URL"
    )
