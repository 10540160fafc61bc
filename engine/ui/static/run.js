// Run page: follow a running run, and draw the test evaluation from its data.
"use strict";

(() => {
  const live = document.getElementById("live");
  if (!live) return;
  const log = document.getElementById("live-log");
  const poll = async () => {
    try {
      const r = await fetch(`/api/runs/${encodeURIComponent(live.dataset.run)}/live`);
      if (r.ok) {
        const s = await r.json();
        log.textContent = s.log.join("\n");
        if (s.status !== "running") { window.location.reload(); return; }
      }
    } catch (e) { /* the server restarted: try again */ }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
})();

(() => {
  const box = document.getElementById("evaluation");
  if (!box) return;
  const done = (text) => { box.querySelector(".loading").textContent = text; };
  fetch(`/api/runs/${encodeURIComponent(box.dataset.run)}/evaluation`)
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((ev) => {
      done(`${ev.rows} test rows`);
      const curves = document.getElementById("curves");
      for (const c of ev.curves) {
        Sous.chart(curves, {
          title: c.title, xLabel: c.x_label, yLabel: c.y_label, scatter: c.scatter,
          unit: !c.scatter, series: c.series.map(([label, xs, ys]) => ({ label, xs, ys })),
        });
      }
      if (ev.confusion.length) {
        const t = Sous.el("table", { class: "cm", id: "confusion-matrix" });
        const head = t.insertRow();
        head.appendChild(Sous.el("th", {}, "true \\ predicted"));
        ev.labels.forEach((l) => head.appendChild(Sous.el("th", {}, l)));
        ev.confusion.forEach((row, i) => {
          const tr = t.insertRow();
          tr.appendChild(Sous.el("th", {}, ev.labels[i]));
          const total = row.reduce((a, b) => a + b, 0) || 1;
          row.forEach((n) => {
            const td = Sous.el("td", { class: "n" }, String(n));
            td.style.background = `rgba(31,119,180,${(n / total).toFixed(2)})`;
            tr.appendChild(td);
          });
        });
        const cm = document.getElementById("confusion");
        cm.appendChild(Sous.el("h3", {}, "Confusion matrix"));
        cm.appendChild(t);
      }
      if (ev.importance.length) {
        const imp = document.getElementById("importance");
        imp.appendChild(Sous.el("h3", {}, "Feature importance"));
        const top = Math.max(...ev.importance.map(([, v]) => Math.abs(v))) || 1;
        for (const [name, v] of ev.importance) {
          const row = Sous.el("div", { class: "imp" });
          row.appendChild(Sous.el("span", { class: "imp-name" }, name));
          const bar = Sous.el("span", { class: "imp-bar" });
          bar.style.width = `${(200 * Math.abs(v)) / top}px`;
          row.appendChild(bar);
          row.appendChild(Sous.el("span", {}, Sous.fmt(v, 3)));
          imp.appendChild(row);
        }
      }
    })
    .catch((e) => done(`no evaluation: ${e.message}`));
})();
