// The explorer page: dashboard, lineage explorer and failures of the stored plans.
// Everything is read through the HTTP API (/api); the page holds no Cypher.
// Routes (the hash): #/plans/PLAN, #/plans/PLAN/failures, #/lineage, #/lineage/NODE_ID.
import cytoscape from "./vendor/cytoscape.esm.min.mjs";
import dagre from "./vendor/cytoscape-dagre.min.mjs";

cytoscape.use(dagre);

/** Neighbours of one level beyond this many are shown as task-level groups with counts. */
const LEVEL_LIMIT = 300;
/** The order statuses are drawn in, and their colours (our Neo4j Browser style's). */
const STATUSES = ["succeeded", "skipped", "running", "pending", "blocked", "failed"];
const COLOURS = {
  pending: "#EEEEEE", running: "#FBC36B", succeeded: "#9CCC65", failed: "#F28B82",
  blocked: "#E6B8B7", skipped: "#C5E1A5", other: "#A5ABB6", dataset: "#BBDEFB",
};
const WORST = ["failed", "blocked", "running", "pending", "skipped", "succeeded"];

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function statusClass(status) {
  return "s-" + (status in COLOURS ? status : "other");
}

async function api(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""));
  const response = await fetch(`/api${path}${query.size ? "?" + query : ""}`);
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error}${body.hint ? " (" + body.hint + ")" : ""}`);
  return body;
}

function busy(text) {
  $("state").textContent = text;
}

function ordered(statuses) {
  return [...statuses].sort((a, b) => {
    const i = STATUSES.indexOf(a), j = STATUSES.indexOf(b);
    return (i < 0 ? 99 : i) - (j < 0 ? 99 : j) || a.localeCompare(b);
  });
}

// --- Dashboard ------------------------------------------------------------------------

async function showDashboard(plan) {
  $("plan-title").textContent = plan;
  const [tasks, dims, executions] = await Promise.all([
    api(`/plans/${encodeURIComponent(plan)}/tasks`),
    api(`/plans/${encodeURIComponent(plan)}/dimensions`),
    api(`/plans/${encodeURIComponent(plan)}/executions`),
  ]);
  const statuses = ordered(tasks.statuses);
  const table = $("tasks");
  table.replaceChildren(
    el("tr", {}, el("th", { text: "task" }), el("th", { text: "quanta" }), el("th", { text: "status" }),
      ...statuses.map((s) => el("th", { text: s }))),
  );
  for (const t of tasks.tasks) {
    const bar = el("div", { title: statuses.filter((s) => t.counts[s]).map((s) => `${s}: ${t.counts[s]}`).join(", ") });
    for (const s of statuses) {
      if (t.counts[s]) bar.append(el("span", { class: statusClass(s), style: `width:${(100 * t.counts[s]) / t.total}%` }));
    }
    table.append(el("tr", { class: "task", "data-task": t.task },
      el("td", {}, el("a", { href: `#/lineage?task=${encodeURIComponent(t.task)}&plan=${encodeURIComponent(plan)}`, text: t.task })),
      el("td", { class: "total", text: String(t.total) }),
      el("td", { class: "bar" }, bar),
      ...statuses.map((s) => el("td", { class: "count", "data-status": s, text: t.counts[s] ? String(t.counts[s]) : "" }))));
  }

  const select = $("dimension");
  const previous = select.value;
  select.replaceChildren(...dims.dimensions.map((d) => el("option", { value: d, text: d })));
  const preferred = [previous, "visit", "tract", "patch", "detector"].find((d) => dims.dimensions.includes(d));
  if (preferred) select.value = preferred;
  select.onchange = () => showHeatmap(plan, select.value).catch(failed);
  await showHeatmap(plan, select.value);

  const runs = $("executions");
  const attemptStatuses = ordered(new Set(executions.flatMap((e) => Object.keys(e.attempts))));
  runs.replaceChildren(el("tr", {}, ...["execution", "status", "activator", "host", "user", "started", "ended"]
    .map((h) => el("th", { text: h })), ...attemptStatuses.map((s) => el("th", { text: `${s} attempts` }))));
  for (const e of executions) {
    runs.append(el("tr", { class: "execution" },
      el("td", { text: e.id.slice(0, 12), title: e.id }), el("td", { text: e.status }),
      el("td", { text: e.activator ?? "" }), el("td", { text: e.host ?? "" }), el("td", { text: e.user ?? "" }),
      el("td", { text: when(e.started) }), el("td", { text: when(e.ended) }),
      ...attemptStatuses.map((s) => el("td", { text: String(e.attempts[s] ?? 0) }))));
  }
  if (!executions.length) runs.append(el("tr", {}, el("td", { text: "not run yet" })));
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00|Z$/, " UTC") : "";
}

async function showHeatmap(plan, dimension) {
  const table = $("heatmap");
  if (!dimension) {
    table.replaceChildren();
    return;
  }
  // As many columns as fit the window (up to 48 px each, beside the task names); more values
  // than that come in ranges of consecutive values.
  const columns = Math.max(8, Math.floor((document.documentElement.clientWidth - 300) / 48));
  const heat = await api(`/plans/${encodeURIComponent(plan)}/heatmap`, { dimension, columns });
  const cells = new Map(heat.cells.map((c) => [`${c.task}\u0000${c.value}`, c.counts]));
  table.replaceChildren(el("tr", {}, el("th", { text: `task \\ ${dimension}` }),
    ...heat.values.map((v) => el("th", { text: String(v) }))));
  for (const task of heat.tasks) {
    const row = el("tr", { "data-task": task }, el("td", { text: task }));
    for (const v of heat.values) {
      const counts = cells.get(`${task}\u0000${v}`);
      if (!counts) {
        row.append(el("td", { class: "cell empty" }));
        continue;
      }
      const worst = WORST.find((s) => counts[s]) ?? Object.keys(counts)[0];
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      row.append(el("td", {
        class: `cell ${statusClass(worst)}`, text: String(total),
        title: `${task} ${dimension}=${v}: ` + Object.entries(counts).map(([s, n]) => `${s} ${n}`).join(", "),
      }));
    }
    table.append(row);
  }
  $("heat-without").textContent = [
    heat.per_column > 1 ? `${heat.distinct} values of ${dimension}, up to ${heat.per_column} a column.` : "",
    heat.without_dimension.length ? `Tasks without ${dimension}: ${heat.without_dimension.join(", ")}` : "",
  ].filter(Boolean).join(" ");
}

// --- Failures -------------------------------------------------------------------------

async function showFailures(plan) {
  $("failures-title").textContent = plan;
  // Causes walk lineages, the slow part on a large plan: asked for group by group, below.
  const found = await api(`/plans/${encodeURIComponent(plan)}/failures`, { causes: 0 });
  $("failures-summary").textContent =
    `${found.failed} failed quanta, ${found.blocked} blocked by them` +
    (found.groups.length ? `, in ${found.groups.length} group(s) by task and error` : "");
  const groups = $("failure-groups");
  groups.replaceChildren();
  for (const g of found.groups) {
    const blocked = Object.entries(g.blocked).map(([t, n]) => `${t} ${n}`).join(", ") || "none";
    const rows = g.failures.map((f) => el("tr", { class: "failure" },
      el("td", { text: f.data_id_display }),
      el("td", { text: String(f.attempt) }),
      el("td", { class: "error", text: f.error }),
      el("td", { text: Object.values(f.blocked).reduce((a, b) => a + b, 0).toString() }),
      el("td", {}, el("a", { class: "to-lineage", href: `#/lineage/${encodeURIComponent(f.quantum_id)}`, text: "lineage" }))));
    groups.append(el("div", { class: "group", "data-task": g.task },
      el("h2", {}, `${g.task}: ${g.count} failed `, el("code", { text: g.error })),
      el("p", { class: "note", text: `blocked downstream: ${blocked}` }),
      el("table", { class: "grid" }, el("tr", {}, ...["data ID", "attempt", "error", "blocked", ""]
        .map((h) => el("th", { text: h }))), ...rows),
      g.failures.length < g.count ? el("p", { class: "note", text: `first ${g.failures.length} of ${g.count}` }) : "",
      el("p", { class: "causes", text: "likely causes: looking..." })));
  }
  for (const [i, g] of found.groups.entries()) {
    const answer = await api(`/plans/${encodeURIComponent(plan)}/failures/causes`, { task: g.task, signature: g.signature });
    const shown = groups.children[i]?.querySelector(".causes");
    if (!shown) return; // the view was left or redrawn meanwhile
    if (!answer.causes.length) {
      shown.textContent = "likely causes: none stands out";
      continue;
    }
    shown.replaceChildren("likely causes: ", ...answer.causes.flatMap((c, j) => [
      j ? "; " : "", el("a", { href: `#/lineage/${encodeURIComponent(c.id)}`, text: `${c.name} ${c.data_id_display}`,
        title: `in ${c.bad} of ${c.bad_total} failed lineages, ${c.good} of ${c.good_total} good ones` })]));
  }
  if (!found.groups.length) groups.append(el("p", { text: "No failed quanta." }));
  $("blocked-elsewhere-title").hidden = $("blocked-elsewhere").hidden = !Object.keys(found.blocked_elsewhere).length;
  const elsewhere = $("blocked-elsewhere");
  elsewhere.replaceChildren(el("tr", {}, el("th", { text: "task" }), el("th", { text: "blocked" })),
    ...Object.entries(found.blocked_elsewhere).map(([t, n]) => el("tr", {}, el("td", { text: t }), el("td", { text: String(n) }))));
}

// --- Lineage explorer -----------------------------------------------------------------

let cy = null;
/** Node ids already expanded, per direction. */
const expanded = { up: new Set(), down: new Set() };

function graph() {
  if (cy) return cy;
  cy = cytoscape({
    container: $("graph"),
    maxZoom: 1.8,
    style: [
      { selector: "node", style: {
        label: "data(caption)", "text-wrap": "wrap", "text-valign": "center", "font-size": 9,
        width: (n) => 5.6 * Math.max(...n.data("caption").split("\n").map((l) => l.length)) + 8,
        height: (n) => 13 * n.data("caption").split("\n").length + 6, shape: "round-rectangle",
        "background-color": "data(colour)", "border-width": 1, "border-color": "#777" } },
      { selector: "node.dataset", style: { shape: "ellipse", width: (n) => 6.6 * Math.max(...n.data("caption").split("\n").map((l) => l.length)) + 20 } },
      { selector: "node.group", style: { "border-style": "dashed", "border-width": 2 } },
      { selector: "node.start", style: { "border-width": 3, "border-color": "#263238" } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#1565C0" } },
      { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle",
        "line-color": "#64B5F6", "target-arrow-color": "#64B5F6" } },
      { selector: "edge.PRODUCES", style: { "line-color": "#689F38", "target-arrow-color": "#689F38" } },
    ],
  });
  cy.on("tap", "node", (event) => select(event.target));
  return cy;
}

function caption(n) {
  return `${n.name}\n${n.data_id_display}`;
}

function addNode(n) {
  const g = graph();
  if (g.getElementById(n.id).nonempty()) return false;
  g.add({ group: "nodes", classes: n.kind, data: {
    id: n.id, caption: caption(n), colour: n.kind === "dataset" ? COLOURS.dataset : (COLOURS[n.status] ?? COLOURS.other),
    node: n } });
  return true;
}

function addEdge(e) {
  // Drawn in the direction data flows: an input dataset into its reader, a producer into its output.
  const [source, target] = e.relationship === "CONSUMES" ? [e.target, e.source] : [e.source, e.target];
  const id = `${source}->${target}`;
  if (graph().getElementById(id).empty()) graph().add({ group: "edges", classes: e.relationship, data: { id, source, target } });
}

function addGroup(from, direction, g) {
  const id = `group:${from}:${direction}:${g.name}`;
  if (graph().getElementById(id).nonempty()) return;
  const counts = Object.entries(g.counts).map(([s, n]) => `${s} ${n}`).join(", ");
  const worst = WORST.find((s) => g.counts[s]);
  graph().add({ group: "nodes", classes: `group ${g.kind}`, data: {
    id, caption: `${g.name} \u00d7${g.total}\n${counts}`,
    colour: g.kind === "dataset" ? COLOURS.dataset : (COLOURS[worst] ?? COLOURS.other), group: { ...g, from, direction } } });
  const [source, target] = direction === "up" ? [id, from] : [from, id];
  graph().add({ group: "edges", data: { id: `${source}->${target}`, source, target } });
}

function layout() {
  const g = graph();
  g.layout({ name: "dagre", rankDir: "TB", nodeSep: 15, rankSep: 40, fit: true, padding: 20, animate: false }).run();
  g.fit(undefined, 20);
  // The same nodes as text: for reading, copying, and screen readers.
  const shown = g.nodes().map((n) => [n.data("caption").replace("\n", " "), n]).sort(([a], [b]) => a.localeCompare(b));
  $("shown-count").textContent = String(shown.length);
  $("shown-list").replaceChildren(...shown.map(([c, n]) => el("li", {
    text: c, tabindex: "0", "data-id": n.id(), onclick: () => { select(n); g.center(n); },
  })));
  $("graph").dataset.nodes = String(shown.length);
}

async function startAt(nodeId) {
  const n = await api(`/nodes/${encodeURIComponent(nodeId)}`);
  graph().elements().remove();
  expanded.up.clear();
  expanded.down.clear();
  addNode(n);
  graph().getElementById(n.id).addClass("start");
  layout();
  select(graph().getElementById(n.id));
  $("expand-up").disabled = $("expand-down").disabled = false;
  $("lineage").dataset.start = n.id;
}

/** Expand every node not yet expanded in ``direction`` by one level. */
async function expandLevel(direction) {
  const frontier = graph().nodes().filter((e) => e.data("node") && !expanded[direction].has(e.id()));
  return expand(frontier.map((e) => e.id()), direction);
}

let levels = 0;

/**
 * Add the neighbours one level ``direction`` of the nodes ``ids``. A node with too many
 * neighbours answers with groups (the API's); a level of more than LEVEL_LIMIT new nodes is
 * drawn as one group per task (or dataset type) with its counts, joined to the nodes it hangs from.
 */
async function expand(ids, direction) {
  busy(`expanding ${ids.length} node(s) ${direction}...`);
  const answers = await Promise.all(ids.map((id) =>
    api(`/nodes/${encodeURIComponent(id)}/neighbours`, { direction }).then((a) => [id, a])));
  const fresh = new Map();
  for (const [, a] of answers) for (const n of a.nodes.slice(1)) if (graph().getElementById(n.id).empty()) fresh.set(n.id, n);
  const collapse = fresh.size > LEVEL_LIMIT;
  const levelGroups = new Map();
  levels += 1;
  for (const [id, a] of answers) {
    expanded[direction].add(id);
    if (a.grouped) {
      for (const g of a.groups) addGroup(id, direction, g);
    } else if (collapse) {
      for (const e of a.edges) if (!fresh.has(e.source) && !fresh.has(e.target)) addEdge(e);  // to nodes shown
      for (const n of a.nodes.slice(1)) {
        if (!fresh.has(n.id)) continue;
        const g = levelGroups.get(n.name) ?? { kind: n.kind, name: n.name, ids: new Set(), from: new Set() };
        g.ids.add(n.id);
        g.from.add(id);
        levelGroups.set(n.name, g);
      }
    } else {
      for (const n of a.nodes.slice(1)) addNode(n);
      for (const e of a.edges) addEdge(e);
    }
  }
  for (const g of levelGroups.values()) {
    const counts = {};
    for (const nid of g.ids) {
      const status = fresh.get(nid).status;
      counts[status] = (counts[status] ?? 0) + 1;
    }
    addLevelGroup(`level:${levels}:${direction}:${g.name}`, [...g.from], direction,
      { kind: g.kind, name: g.name, counts, total: g.ids.size, level: true });
  }
  layout();
  $("graph").dataset.expansions = String(levels);
  busy(collapse ? `${fresh.size} new nodes: shown as groups; expand single nodes to see them` : "");
  return fresh.size;
}

function addLevelGroup(id, from, direction, g) {
  const counts = Object.entries(g.counts).map(([s, n]) => `${s} ${n}`).join(", ");
  const worst = WORST.find((s) => g.counts[s]);
  graph().add({ group: "nodes", classes: `group ${g.kind}`, data: {
    id, caption: `${g.name} \u00d7${g.total}\n${counts}`,
    colour: g.kind === "dataset" ? COLOURS.dataset : (COLOURS[worst] ?? COLOURS.other), group: g } });
  for (const f of from) {
    const [source, target] = direction === "up" ? [id, f] : [f, id];
    graph().add({ group: "edges", data: { id: `${source}->${target}`, source, target } });
  }
}

/** List one group's members (a page at a time) in place of its group node. */
async function listGroup(node) {
  const g = node.data("group");
  const page = await api(`/nodes/${encodeURIComponent(g.from)}/neighbours`,
    { direction: g.direction, group: g.name, offset: g.offset ?? 0 });
  for (const n of page.nodes.slice(1)) addNode(n);
  for (const e of page.edges) addEdge(e);
  if (page.next_offset === null) node.remove();
  else node.data("group", { ...g, offset: page.next_offset });
  layout();
}

function select(node) {
  graph().nodes().unselect();
  node.select();
  const box = $("selected");
  const n = node.data("node");
  if (!n) {
    const g = node.data("group");
    box.replaceChildren(el("h2", { text: `${g.name} \u00d7${g.total}` }),
      el("p", { text: Object.entries(g.counts).map(([s, c]) => `${s} ${c}`).join(", ") }),
      g.level
        ? el("p", { class: "note", text: "A level too large to draw: select a node it hangs from and expand that one." })
        : el("button", { type: "button", id: "list-group", onclick: () => listGroup(node).catch(failed), text: "List them" }));
    return;
  }
  const rows = [["kind", n.kind], [n.kind === "quantum" ? "task" : "type", n.name], ["data ID", n.data_id_display],
    ["status", n.status], ["run", n.run ?? ""], ["plan", n.plan_id ?? ""], ["id", n.id]];
  box.replaceChildren(el("h2", { text: `${n.name} ${n.data_id_display}` }),
    el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })])),
    el("div", { class: "buttons" },
      el("button", { type: "button", id: "expand-node-up", text: "Expand this up",
        onclick: () => expand([n.id], "up").catch(failed) }),
      el("button", { type: "button", id: "expand-node-down", text: "Expand this down",
        onclick: () => expand([n.id], "down").catch(failed) })),
    el("p", {}, el("a", { href: `#/lineage/${encodeURIComponent(n.id)}`, text: "start here" })));
}

async function search(event) {
  event?.preventDefault();
  const kind = $("search-kind").value;
  const params = { [kind]: $("search-name").value.trim(), data_id: $("search-data-id").value.trim(), limit: 100 };
  const plan = plans.get($("plan").value);
  if (plan && $("search-plan").checked) {
    if (kind === "task") params.plan = plan.id;
    else params.run = plan.output_run;
  }
  const found = await api("/search", params);
  const list = $("results");
  list.replaceChildren(...found.nodes.map((n) => el("li", {}, el("button", {
    type: "button", class: "result", "data-id": n.id, text: `${n.name} ${n.data_id_display}`,
    onclick: () => { location.hash = `#/lineage/${encodeURIComponent(n.id)}`; },
  }))));
  if (!found.nodes.length) list.append(el("li", { text: "nothing found" }));
  if (found.truncated) list.append(el("li", { class: "note", text: "first 100 shown: give more of the data ID" }));
}

// --- Routing --------------------------------------------------------------------------

function failed(error) {
  busy("");
  $("state").textContent = String(error.message ?? error);
  $("state").classList.add("error");
}

function show(section) {
  for (const s of ["dashboard", "lineage", "failures"]) $(s).hidden = s !== section;
  for (const a of ["dashboard", "lineage", "failures"]) $(`to-${a}`).classList.toggle("current", a === section);
}

async function route() {
  $("state").textContent = "";
  $("state").classList.remove("error");
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  const plan = parts[0] === "plans" && parts[1] ? parts[1] : $("plan").value;
  if (plan) {
    $("plan").value = plan;
    $("to-dashboard").href = `#/plans/${encodeURIComponent(plan)}`;
    $("to-failures").href = `#/plans/${encodeURIComponent(plan)}/failures`;
  }
  if (parts[0] === "lineage") {
    show("lineage");
    graph().resize();
    const params = new URLSearchParams(query ?? "");
    if (params.get("task")) {
      $("search-kind").value = "task";
      $("search-name").value = params.get("task");
      await search();
    }
    if (parts[1] && parts[1] !== $("lineage").dataset.start) await startAt(parts.slice(1).join("/"));
  } else if (parts[2] === "failures") {
    show("failures");
    await showFailures(plan);
  } else if (plan) {
    show("dashboard");
    await showDashboard(plan);
  } else {
    show("dashboard");
    $("plan-title").textContent = "(no plan stored yet: 'provgraph run' or 'provgraph plan' first)";
  }
  document.body.dataset.ready = location.hash;
}

/** The stored plans by id, as /api/plans lists them. */
const plans = new Map();

async function main() {
  const listed = await api("/plans");
  for (const p of listed) plans.set(p.id, p);
  $("plan").replaceChildren(...listed.map((p) => el("option", { value: p.id, text: `${p.id} (${p.execution ?? "not run"})` })));
  $("plan").onchange = () => { location.hash = `#/plans/${encodeURIComponent($("plan").value)}`; };
  $("search").addEventListener("submit", (e) => search(e).catch(failed));
  $("expand-up").onclick = () => expandLevel("up").catch(failed);
  $("expand-down").onclick = () => expandLevel("down").catch(failed);
  $("fit").onclick = () => graph().fit(undefined, 20);
  window.addEventListener("hashchange", () => route().catch(failed));
  await route();
}

main().catch(failed);
