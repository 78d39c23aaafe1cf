"""The explorer's HTTP API on a large stored plan: every call the page makes, timed through ``provgraph serve``.

    .venv/bin/python benchmarks/operations.py --visits 2000 --detectors 100 --keep   # stores the 1M plan
    .venv/bin/python benchmarks/explorer.py --plan-id bench-operations-2000x100

Starts ``provgraph serve`` (the command of ``--provgraph``, with ``PYTHONPATH`` set to
``--code``, this checkout by default) on a free loopback port, against the configured Neo4j,
and asks it what the page asks, in the page's order, over one keep-alive HTTP connection:

- **dashboard**: the plan list, the plan's tasks with their status counts, its dimensions,
  its executions, and the heat map of status by task and each of visit, tract, patch and
  detector;
- **failures**: the failure view: failed quanta grouped by task and error, then the likely
  causes of each group, asked apart as the page asks them;
- **explorer**: the dashboard's task link (quanta of ``isr`` in the plan), a search for a
  coadd by type and a partial data ID, the coadd itself, then two levels up from it, every
  node of a level expanded as the page's "expand up" does; the consumers of a bias (too many
  to list: counted per task), a page of them and the last page; and the lineage summary of
  the coadd.

Each call is asked ``--runs`` times in a row (the first meets a server that has not planned
the query yet: cold, then warm). Per call: wall time to the whole body, CPU seconds of the
``serve`` process and of the Neo4j server (``/proc/<pid>/stat``), the 1-minute load average,
the body's size and, for graph answers, its ``elements`` (nodes, edges and groups), checked to
be at most 500. One JSON line per run goes to ``results/explorer.jsonl``; a table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Any

from cold_cli import HERE, add_measured_options, managed_server_pid, server_cpu
from preflight import ROOT, code_state, machine
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(ROOT))

from tests.support.serve import free_port, wait_until_listening

RESULTS = HERE / "results" / "explorer.jsonl"
#: The most nodes, edges and groups one graph answer may carry (the API's bound).
MAX_ELEMENTS = 500


class Api:
    """One keep-alive connection to ``provgraph serve``, timing each call."""

    def __init__(self, port: int, serve_pid: int, neo4j_pid: int | None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.serve_pid, self.neo4j_pid = serve_pid, neo4j_pid
        self.calls: list[dict[str, Any]] = []

    def get(self, section: str, name: str, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        url = f"/api{path}" + (f"?{query}" if query else "")
        serve, neo4j = server_cpu(self.serve_pid), server_cpu(self.neo4j_pid)
        began = time.perf_counter()
        self.connection.request("GET", url)
        response = self.connection.getresponse()
        body = response.read()
        wall = time.perf_counter() - began
        if response.status != 200:
            raise SystemExit(f"GET {url} answered {response.status}: {body.decode()[:500]}")
        answer = json.loads(body)
        elements = answer.get("elements") if isinstance(answer, dict) else None
        if elements is not None and elements > MAX_ELEMENTS:
            raise SystemExit(f"GET {url} sent {elements} elements, more than {MAX_ELEMENTS}")
        self.calls.append(
            {
                "section": section,
                "name": name,
                "url": url,
                "wall_s": round(wall, 3),
                "serve_cpu_s": round(server_cpu(self.serve_pid) - serve, 3),
                "server_cpu_s": round(server_cpu(self.neo4j_pid) - neo4j, 3),
                "load_1min": round(os.getloadavg()[0], 2),
                "bytes": len(body),
                "elements": elements,
            }
        )
        return answer


def the_page(api: Api, plan_id: str) -> None:
    """What the page asks, in its order: dashboard, failures, then the lineage explorer."""
    plans = {p["id"]: p for p in api.get("dashboard", "plans", "/plans")}
    if plan_id not in plans:
        raise SystemExit(f"there is no plan {plan_id!r}; benchmarks/operations.py --keep stores one")
    plan = f"/plans/{urllib.parse.quote(plan_id, safe='')}"
    api.get("dashboard", "tasks", f"{plan}/tasks")
    dimensions = api.get("dashboard", "dimensions", f"{plan}/dimensions")["dimensions"]
    api.get("dashboard", "executions", f"{plan}/executions")
    for dimension in ("visit", "tract", "patch", "detector"):
        if dimension in dimensions:
            api.get("dashboard", f"heatmap {dimension}", f"{plan}/heatmap", dimension=dimension)
    groups = api.get("failures", "failures (groups, no causes)", f"{plan}/failures", causes=0)["groups"]
    for g in groups:  # as the page fills them in, one group at a time
        api.get(
            "failures",
            "causes of one group",
            f"{plan}/failures/causes",
            task=g["task"],
            signature=g["signature"],
        )

    api.get("explorer", "search task isr (task link)", "/search", task="isr", plan=plan_id, limit=100)
    run = plans[plan_id]["output_run"]
    found = api.get("explorer", "search deepCoadd tract=0", "/search", dataset_type="deepCoadd",
                    data_id="tract=0", run=run, limit=100)["nodes"]  # fmt: skip
    coadd = found[0]
    api.get("explorer", "search deepCoadd (full data ID)", "/search", dataset_type="deepCoadd",
            data_id=coadd["data_id_display"], run=run, limit=100)  # fmt: skip
    api.get("explorer", "node (the coadd)", f"/nodes/{urllib.parse.quote(coadd['id'], safe='')}")
    frontier = [coadd["id"]]
    for level in (1, 2, 3):
        fresh: list[str] = []
        for node_id in frontier:
            answer = api.get("explorer", f"neighbours up, level {level}",
                             f"/nodes/{urllib.parse.quote(node_id, safe='')}/neighbours", direction="up")  # fmt: skip
            fresh += [n["id"] for n in answer["nodes"][1:]]
        frontier = fresh
    bias = api.get("explorer", "search bias detector=0", "/search", dataset_type="bias", data_id="detector=0",
                   limit=10)["nodes"][0]  # fmt: skip
    neighbours = f"/nodes/{urllib.parse.quote(bias['id'], safe='')}/neighbours"
    grouped = api.get("explorer", "neighbours down (a bias: grouped)", neighbours, direction="down")
    group = max(grouped["groups"], key=lambda g: g["total"])
    first = api.get("explorer", "neighbours down, a group's first page", neighbours, direction="down",
                    group=group["name"])  # fmt: skip
    page = len(first["nodes"]) - 1  # the listed members, after the centre node
    last = (first["total"] - 1) // page * page
    api.get("explorer", "neighbours down, a group's last page", neighbours, direction="down",
            group=group["name"], offset=last)  # fmt: skip
    api.get("explorer", "lineage summary (the coadd)", "/lineage", dataset=coadd["id"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--plan-id", required=True, help="the stored plan (benchmarks/operations.py stores one)"
    )
    parser.add_argument("--runs", type=int, default=3)
    add_measured_options(parser)
    args = parser.parse_args()
    neo4j_pid = args.server_pid or managed_server_pid()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": args.code}
    # The server's output goes to a file, not a pipe: its access log would fill a pipe and stall it.
    with tempfile.TemporaryFile() as log:
        serve = subprocess.Popen(
            [args.provgraph, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            try:
                wait_until_listening(serve, port)
            except AssertionError:
                log.seek(0)
                raise SystemExit(
                    f"provgraph serve did not start: {log.read().decode(errors='replace')[-2000:]}"
                ) from None
            runs = []
            for _ in range(args.runs):
                api = Api(port, serve.pid, neo4j_pid)
                the_page(api, args.plan_id)
                runs.append(api.calls)
        finally:
            serve.terminate()
            serve.wait(timeout=30)
    record: dict[str, Any] = {"benchmark": "explorer", "machine": machine(), **code_state()}
    record.update(
        when=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        plan_id=args.plan_id,
        code=args.code,
        note=args.note,
        server_pid_known=neo4j_pid is not None,
        runs=runs,
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    table = Table("section", "call", "calls", "wall s (max of a call)", "serve CPU-s", "Neo4j CPU-s", "elements",
                  "KB", title=f"{args.plan_id}: cold / warm runs")  # fmt: skip
    names = list(dict.fromkeys((c["section"], c["name"]) for c in runs[0]))
    for section, name in names:
        per_run = [[c for c in run if (c["section"], c["name"]) == (section, name)] for run in runs]

        def figure(key: str, calls: list[list[dict[str, Any]]] = per_run) -> str:
            return " / ".join(f"{max(c[key] for c in run):.2f}" for run in calls)

        elements = [c["elements"] for c in per_run[0] if c["elements"] is not None]
        table.add_row(section, name, str(len(per_run[0])), figure("wall_s"), figure("serve_cpu_s"),
                      figure("server_cpu_s"), str(max(elements)) if elements else "",
                      f"{max(c['bytes'] for c in per_run[0]) / 1024:.0f}")  # fmt: skip
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
