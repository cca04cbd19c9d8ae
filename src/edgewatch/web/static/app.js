/* The dashboard pages: read the filters from the URL, call the page's API, draw. */
"use strict";
window.EW = window.EW || {};

(function (EW) {
  const $ = (id) => document.getElementById(id);
  const page = document.body.dataset.page;

  EW.api = async function (path, init) {
    const res = await fetch(path, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, init || {}));
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const err = new Error((body && (body.error || (body.detail && JSON.stringify(body.detail)))) || res.status + " " + res.statusText);
      err.body = body;
      err.status = res.status;
      throw err;
    }
    return body;
  };

  EW.showError = function (message) {
    const el = $("error");
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  };

  function params() {
    const q = new URLSearchParams(location.search);
    return { since: q.get("since") || "24h", namespace: q.get("namespace") || "", pod: q.get("pod") || "" };
  }

  function query(p, extra) {
    const q = new URLSearchParams();
    q.set("since", p.since);
    if (p.namespace) q.set("namespace", p.namespace);
    if (p.pod) q.set("pod", p.pod);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }

  EW.filterLink = function (text, ns, pod) {
    const a = document.createElement("a");
    const p = params();
    a.href = "?" + query({ since: p.since, namespace: ns, pod: pod || "" });
    a.textContent = text;
    a.title = pod ? "only this pod" : "only this namespace";
    return a;
  };

  function option(select, value, label) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    select.append(o);
  }

  let options = null;
  function fillPods(p) {
    const sel = $("f-pod");
    sel.replaceChildren();
    option(sel, "", "all pods");
    const pods = (options ? options.pods : []).filter(([ns]) => !p.namespace || ns === p.namespace);
    const names = [...new Set(pods.map(([, pod]) => pod))].sort();
    if (p.pod && !names.includes(p.pod)) names.unshift(p.pod);
    for (const pod of names) option(sel, pod, pod);
    sel.value = p.pod;
  }

  async function loadOptions(p) {
    try { options = await EW.api("/api/options?" + query({ since: p.since })); } catch (e) { options = null; }
    const sel = $("f-namespace");
    sel.replaceChildren();
    option(sel, "", "all namespaces");
    const names = options ? options.namespaces.slice() : [];
    if (p.namespace && !names.includes(p.namespace)) names.unshift(p.namespace);
    for (const ns of names) option(sel, ns, ns);
    sel.value = p.namespace;
    fillPods(p);
  }

  function setWindow(w) {
    const el = $("window");
    if (el && w) el.textContent = `${EW.fmt(w.start)} → ${EW.fmt(w.end)}`;
  }

  const RENDER = {};

  async function load() {
    const p = params();
    $("loading").hidden = false;
    try {
      const data = await EW.api(`/api/${page}?` + query(p));
      EW.showError("");
      setWindow(data.window);
      RENDER[page](data);
      document.body.dataset.loaded = String(Date.now());
    } catch (e) {
      EW.showError(e.message);
      document.body.dataset.loaded = "error";
    } finally {
      $("loading").hidden = true;
    }
  }

  function bindFilters() {
    const p = params();
    $("f-since").value = p.since;
    if ($("f-since").value !== p.since) { option($("f-since"), p.since, p.since); $("f-since").value = p.since; }
    const apply = (changed) => {
      const next = { since: $("f-since").value, namespace: $("f-namespace").value, pod: $("f-pod").value };
      if (changed === "namespace") next.pod = "";
      history.replaceState(null, "", "?" + query(next));
      if (changed === "namespace") fillPods(next);
      if (changed === "since") loadOptions(next);
      load();
    };
    $("f-since").addEventListener("change", () => apply("since"));
    $("f-namespace").addEventListener("change", () => apply("namespace"));
    $("f-pod").addEventListener("change", () => apply("pod"));
    $("filters").addEventListener("submit", (e) => { e.preventDefault(); apply(""); });
    loadOptions(p);
  }

  async function storeInfo() {
    try {
      const s = await EW.api("/api/store");
      const total = s.tables.reduce((a, t) => a + t.events, 0);
      $("store-info").textContent = `${s.node || "node"} · ${EW.fmt(total)} events`;
      $("store-info").title = `${s.path}\n${EW.fmt(s.oldest)} → ${EW.fmt(s.newest)}`;
      const a = document.querySelector('nav a[data-page="alerts"]');
      if (a && !s.alerts_table) a.classList.add("muted");
    } catch (e) {
      $("store-info").textContent = "store unavailable";
      if (page === "kql") EW.showError(e.message);
    }
  }

  // -- pages -----------------------------------------------------------------------

  RENDER.overview = function (d) {
    EW.tiles($("totals"), d.totals.map((t) => [t.gadget + " events", t.events, "total-" + t.gadget]));
    EW.plot($("chart-time"), d.over_time.map((s, i) => ({
      type: "scatter", mode: "lines", name: s.name, x: s.x, y: s.y, line: { width: 2, color: EW.color(s.name, i), shape: "hv" },
    })), { yaxis: { title: { text: `events per ${d.bucket_s >= 60 ? d.bucket_s / 60 + " min" : d.bucket_s + " s"}` } } });
    const ns = d.by_namespace;
    const gadgets = ns.columns.slice(1, -1);
    const chartNs = $("chart-ns");
    chartNs.style.height = Math.max(160, 24 * ns.rows.length + 60) + "px";
    EW.plot(chartNs, gadgets.map((g, gi) => ({
      type: "bar", orientation: "h", name: g, marker: { color: EW.color(g, gi) },
      y: ns.rows.map((r) => r[0]).reverse(), x: ns.rows.map((r) => r[gi + 1]).reverse(),
    })), { barmode: "stack", margin: { l: 110, r: 20, t: 30, b: 30 }, yaxis: { automargin: true } });
    EW.table($("table-ns"), ns, { cell: { namespace: (v) => (v === "(host)" ? v : EW.filterLink(v, v)) } });
    EW.table($("table-failed"), d.failed_connects, { empty: "No failed connects in this window.", rowClass: () => "warn" });
    const agent = d.agent;
    $("agent-note").textContent = agent.present
      ? `From the agent's status file ${agent.path} (written ${EW.fmt(agent.age_s)} s ago).`
      : agent.note;
    EW.table($("table-destinations"), agent.destinations, {
      empty: agent.present ? "The agent has no delivery destinations." : "No agent status: " + agent.note,
      rowClass: (r) => (r[6] ? "warn" : ""),
    });
    EW.table($("table-drops"), agent.drops, { empty: agent.present ? "Nothing dropped." : "—" });
  };

  RENDER.network = function (d) {
    const edges = d.edges;
    const failed = edges.reduce((a, e) => a + e.failed, 0);
    EW.tiles($("net-tiles"), [
      ["pod → destination pairs", edges.length, "edges"],
      ["public destinations", d.public_destinations, "public", d.public_destinations ? "alert" : ""],
      ["connections", edges.reduce((a, e) => a + e.connections, 0), "connections"],
      ["failed connects", failed, "failed", failed ? "warn" : ""],
    ]);
    const labels = [], colors = [], index = new Map();
    const node = (key, label, color) => {
      if (!index.has(key)) { index.set(key, labels.length); labels.push(label); colors.push(color); }
      return index.get(key);
    };
    const src = [], dst = [], val = [], linkColors = [];
    for (const e of edges) {
      const who = e.pod ? `${e.namespace}/${e.pod}` : "(host network)";
      const s = node("p:" + who, who, e.pod ? "#2563eb" : "#64748b");
      const pub = e.address_class === "public";
      const t = node("d:" + e.destination, e.name ? `${e.name} (${e.destination})` : e.destination, pub ? "#dc2626" : "#6b7280");
      src.push(s); dst.push(t); val.push(e.connections);
      linkColors.push(pub ? "rgba(220,38,38,0.35)" : "rgba(107,114,128,0.25)");
    }
    const graph = $("chart-graph");
    graph.style.height = Math.max(320, 18 * Math.max(index.size / 2, 10)) + "px";
    if (edges.length) {
      EW.plot(graph, [{
        type: "sankey", arrangement: "snap",
        node: { label: labels, color: colors, pad: 8, thickness: 14, line: { width: 0 } },
        link: { source: src, target: dst, value: val, color: linkColors },
      }], { margin: { l: 10, r: 10, t: 10, b: 10 } });
    } else {
      if (window.Plotly) window.Plotly.purge(graph);
      graph.style.height = "auto";
      graph.textContent = "No outbound connections in this window.";
    }
    const cols = ["namespace", "pod", "destination", "port", "name", "address_class", "connections", "failed"];
    EW.table($("table-edges"), { columns: cols, rows: edges.map((e) => cols.map((c) => e[c])), truncated: d.truncated }, {
      rowClass: (r) => (r[5] === "public" ? "public" : ""),
      cell: {
        pod: (v, r) => EW.filterLink(v, r[0], v),
        address_class: (v) => EW.badge(v, v),
      },
    });
  };

  RENDER.dns = function (d) {
    EW.tiles($("dns-tiles"), [
      ["queries", d.queries, "queries"],
      ["failed lookups", d.failures, "failures", d.failures ? "warn" : ""],
      ["suspicious domains", d.suspicious.rows.length, "suspicious", d.suspicious.rows.length ? "alert" : ""],
    ]);
    const top = d.top_names.rows.slice(0, 15);
    if (top.length) EW.hbar($("chart-names"), top.map((r) => r[0]), top.map((r) => r[1]));
    else { if (window.Plotly) window.Plotly.purge($("chart-names")); $("chart-names").style.height = "0"; }
    EW.table($("table-top"), d.top_names);
    EW.table($("table-failed"), d.failed, { rowClass: () => "warn", empty: "No failed lookups in this window." });
    EW.table($("table-suspicious"), d.suspicious, { rowClass: () => "alert", empty: "Nothing looks like tunnelling in this window." });
  };

  RENDER.tls = function (d) {
    const pods = new Set(d.sni.rows.map((r) => r[0] + "/" + r[1]));
    const names = new Set(d.sni.rows.map((r) => r[2]));
    EW.tiles($("tls-tiles"), [
      ["pod → server name pairs", d.sni.rows.length, "pairs"],
      ["server names", names.size, "names"],
      ["pods", pods.size, "pods"],
      ["first seen in window", d.new_in_window, "new", d.new_in_window ? "warn" : ""],
    ]);
    EW.table($("table-sni"), d.sni, {
      rowClass: (r) => (r[6] ? "new" : ""),
      cell: { new: (v) => (v ? EW.badge("new", "new") : ""), pod: (v, r) => EW.filterLink(v, r[0], v) },
    });
  };

  RENDER.processes = function (d) {
    const execs = d.containers.rows.reduce((a, r) => a + r[4], 0);
    EW.tiles($("proc-tiles"), [
      ["containers", d.containers.rows.length, "containers"],
      ["program starts", execs, "execs"],
      ["shell starts", d.shell_execs, "shell-execs", d.shell_execs ? "alert" : ""],
    ]);
    EW.table($("table-containers"), d.containers, {
      rowClass: (r) => (r[6] > 0 ? "shell" : ""),
      cell: { shells: (v) => (v > 0 ? EW.badge(EW.fmt(v), "shell") : "0"), pod: (v, r) => EW.filterLink(v, r[0], v) },
    });
    EW.table($("table-shells"), d.shells, { rowClass: () => "shell", empty: "No shells started in this window." });
  };

  RENDER.seccomp = function (d) {
    const rows = d.by_syscall.rows;
    if (rows.length) EW.hbar($("chart-syscalls"), rows.map((r) => `${r[0]} (${r[1]})`), rows.map((r) => r[2]),
      { colors: rows.map((r) => (/KILL|ERRNO|TRAP/.test(r[1]) ? "#dc2626" : "#ca8a04")) });
    else { if (window.Plotly) window.Plotly.purge($("chart-syscalls")); $("chart-syscalls").style.height = "0"; }
    EW.table($("table-syscalls"), d.by_syscall, { empty: "No seccomp events in this window." });
    EW.table($("table-detail"), d.detail, { cell: { pod: (v, r) => EW.filterLink(v, r[0], v) } });
  };

  RENDER.alerts = function (d) {
    $("alerts-note").textContent = d.present ? `From the store's ${d.table} table. ${d.note}` : d.note;
    const detail = $("alert-detail");
    detail.hidden = true;
    EW.table($("table-alerts"), d.alerts, {
      empty: d.present ? "No alerts in this window." : "No alerts: detections have not written any to this store.",
      rowClass: () => "alert",
      onRow: (row) => {
        const obj = {};
        d.alerts.columns.forEach((c, i) => { obj[c] = row[i]; });
        for (const [k, v] of Object.entries(obj)) {
          if (typeof v === "string" && /^[[{]/.test(v)) { try { obj[k] = JSON.parse(v); } catch (e) { /* text */ } }
        }
        detail.textContent = JSON.stringify(obj, null, 2);
        detail.hidden = false;
      },
    });
  };

  document.addEventListener("DOMContentLoaded", () => {
    storeInfo();
    if (RENDER[page]) { bindFilters(); load(); }
  });
})(window.EW);
