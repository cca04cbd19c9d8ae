/* The KQL page: bundled queries one click away, results as a sortable table and a chart,
   errors with the cursor put on the position the engine names. */
"use strict";
window.EW = window.EW || {};

(function (EW) {
  if (document.body.dataset.page !== "kql") return;
  const $ = (id) => document.getElementById(id);

  function offsetOf(text, line, column) {
    const lines = text.split("\n");
    let at = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
    return Math.min(at + Math.max(column - 1, 0), text.length);
  }

  const isNum = (t) => /int|double|float|decimal/i.test(t);
  const isTime = (t) => /timestamp|date/i.test(t);

  /* A chart that fits the result: time + number -> lines; text + number -> bars. */
  function chart(res) {
    const el = $("kql-chart");
    const num = res.types.findIndex(isNum);
    const time = res.types.findIndex(isTime);
    // the text column that tells rows apart best (a constant like Computer says nothing)
    let label = -1, best = 0;
    res.types.forEach((t, i) => {
      if (i === num || isNum(t) || isTime(t) || t === "dynamic") return;
      const distinct = new Set(res.rows.map((r) => r[i])).size;
      if (distinct > best) { best = distinct; label = i; }
    });
    if (num < 0 || !res.rows.length || (time < 0 && label < 0)) { el.hidden = true; return; }
    el.hidden = false;
    if (time >= 0) {
      const rows = res.rows.slice().sort((a, b) => String(a[time]).localeCompare(String(b[time])));
      const groups = new Map();
      for (const r of rows) {
        const key = label >= 0 ? String(r[label]) : res.columns[num];
        if (!groups.has(key)) groups.set(key, { x: [], y: [] });
        groups.get(key).x.push(r[time]); groups.get(key).y.push(r[num]);
      }
      const traces = [...groups.entries()].slice(0, 12).map(([name, g]) => ({ type: "scatter", mode: "lines+markers", name, x: g.x, y: g.y }));
      el.style.height = "320px";
      EW.plot(el, traces, { yaxis: { title: { text: res.columns[num] } } });
    } else {
      const agg = new Map();
      for (const r of res.rows) agg.set(String(r[label]), (agg.get(String(r[label])) || 0) + Number(r[num] || 0));
      const top = [...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
      EW.hbar(el, top.map(([k]) => k), top.map(([, v]) => v));
    }
  }

  async function run() {
    const text = $("kql-text").value;
    if (!text.trim()) return;
    const err = $("kql-error");
    err.hidden = true;
    delete err.dataset.line; delete err.dataset.column;
    $("kql-status").textContent = "running…";
    $("kql-run").disabled = true;
    document.body.dataset.kql = "running";
    try {
      const res = await EW.api("/api/kql", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ query: text }),
      });
      const more = res.truncated ? ` (first ${EW.fmt(res.rows.length)} shown)` : "";
      $("kql-status").textContent = `${EW.fmt(res.row_count)} rows in ${res.seconds.toFixed(3)} s${more}`;
      $("kql-status").dataset.rows = String(res.row_count);
      EW.table($("kql-table"), { columns: res.columns, rows: res.rows, truncated: res.truncated }, { empty: "The query returned no rows." });
      chart(res);
      document.body.dataset.kql = "done";
    } catch (e) {
      $("kql-status").textContent = "failed";
      err.textContent = e.message;
      err.hidden = false;
      $("kql-table").replaceChildren();
      $("kql-chart").hidden = true;
      const b = e.body || {};
      if (b.line) {
        err.dataset.line = String(b.line);
        err.dataset.column = String(b.column || 1);
        const ta = $("kql-text");
        const at = offsetOf(ta.value, b.line, b.column || 1);
        ta.focus();
        ta.setSelectionRange(at, Math.min(at + 1, ta.value.length));
      }
      document.body.dataset.kql = "error";
    } finally {
      $("kql-run").disabled = false;
    }
  }

  async function listQueries() {
    const list = $("query-list");
    try {
      const queries = await EW.api("/api/queries");
      for (const q of queries) {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.name = q.name;
        b.className = "query";
        const t = document.createElement("strong");
        t.textContent = q.title;
        const n = document.createElement("small");
        n.textContent = `${q.name} · ${q.gadgets.join(", ")}`;
        b.append(t, n);
        b.title = q.finds;
        b.addEventListener("click", () => {
          for (const other of list.querySelectorAll("button")) other.classList.remove("active");
          b.classList.add("active");
          $("kql-text").value = q.text;
          history.replaceState(null, "", "?q=" + encodeURIComponent(q.name));
          run();
        });
        li.append(b);
        list.append(li);
      }
      const wanted = new URLSearchParams(location.search).get("q");
      const btn = wanted && list.querySelector(`button[data-name="${CSS.escape(wanted)}"]`);
      if (btn) btn.click();
    } catch (e) {
      EW.showError(e.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("kql-form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
    $("kql-text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
    });
    listQueries();
    document.body.dataset.loaded = String(Date.now());
  });
})(window.EW);
