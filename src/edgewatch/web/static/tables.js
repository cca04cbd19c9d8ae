/* Sortable data tables built from the API's {columns, rows, truncated} shape.
   Cells are set with textContent only: store values are never parsed as HTML. */
"use strict";
window.EW = window.EW || {};

(function (EW) {
  const NUM = new Intl.NumberFormat("en-US");
  /* numbers that are names, not amounts: no thousands separators */
  const RAW = /(^|_)(port|pid|ppid|uid|gid|id|dstport|srcport)$|Port$|Id$/;

  EW.fmt = function (value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return Number.isInteger(value) ? NUM.format(value) : String(Math.round(value * 1000) / 1000);
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "object") return JSON.stringify(value);
    const s = String(value);
    return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(s) ? s.replace("T", " ") : s;
  };

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  /* opts: rowClass(row) -> class name; cell: {column: (value, row) -> Node|string};
     hide: [columns]; onRow(row) called on click; empty: text when there are no rows */
  EW.table = function (container, table, opts) {
    opts = opts || {};
    container.replaceChildren();
    const cols = table.columns.map((name, i) => ({ name, i })).filter((c) => !(opts.hide || []).includes(c.name));
    if (!table.rows.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = opts.empty || "Nothing in this window.";
      container.append(p);
      return;
    }
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    const el = document.createElement("table");
    el.className = "data";
    const thead = el.createTHead();
    const hr = thead.insertRow();
    const tbody = el.createTBody();
    let rows = table.rows.slice();
    let sortCol = null, sortDir = 1;

    function draw() {
      tbody.replaceChildren();
      for (const row of rows) {
        const tr = tbody.insertRow();
        const cls = opts.rowClass ? opts.rowClass(row) : "";
        if (cls) tr.className = cls;
        for (const c of cols) {
          const td = tr.insertCell();
          const v = row[c.i];
          td.dataset.col = c.name;
          if (typeof v === "number") td.className = "num";
          const custom = opts.cell && opts.cell[c.name];
          const raw = typeof v === "number" && RAW.test(c.name);
          const content = custom ? custom(v, row) : raw ? String(v) : EW.fmt(v);
          if (content instanceof Node) td.append(content); else td.textContent = content;
        }
        if (opts.onRow) { tr.classList.add("clickable"); tr.addEventListener("click", () => opts.onRow(row)); }
      }
    }
    for (const c of cols) {
      const th = document.createElement("th");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = c.name.replace(/_/g, " ");
      btn.dataset.col = c.name;
      btn.addEventListener("click", () => {
        sortDir = sortCol === c.i ? -sortDir : (typeof table.rows[0][c.i] === "number" ? -1 : 1);
        sortCol = c.i;
        rows.sort((a, b) => sortDir * compare(a[c.i], b[c.i]));
        for (const other of hr.children) other.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
        draw();
      });
      th.append(btn);
      hr.append(th);
    }
    draw();
    wrap.append(el);
    container.append(wrap);
    if (table.truncated) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = `Showing the first ${NUM.format(table.rows.length)} rows; narrow the window or the filters for the rest.`;
      container.append(p);
    }
  };

  EW.badge = function (text, cls) {
    const s = document.createElement("span");
    s.className = "badge " + (cls || text);
    s.textContent = text;
    return s;
  };

  /* tiles: [[label, value, testid, cls]] */
  EW.tiles = function (container, tiles) {
    container.replaceChildren();
    for (const [label, value, testid, cls] of tiles) {
      const d = document.createElement("div");
      d.className = "tile" + (cls ? " " + cls : "");
      if (testid) d.dataset.testid = testid;
      const n = document.createElement("div");
      n.className = "num";
      n.textContent = EW.fmt(value);
      const l = document.createElement("div");
      l.className = "label";
      l.textContent = label;
      d.append(n, l);
      container.append(d);
    }
  };
})(window.EW);
