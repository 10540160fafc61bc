// Sous UI: small helpers shared by the pages. No framework, no network beyond this server.
"use strict";

const Sous = (() => {
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

  // Strictly increasing x (uPlot aligns series on x; a curve may repeat an x value).
  function increasing(xs) {
    const out = [];
    for (let i = 0; i < xs.length; i++) {
      out.push(i && xs[i] <= out[i - 1] ? out[i - 1] + 1e-9 : xs[i]);
    }
    return out;
  }

  // A line (or scatter) chart of several {label, xs, ys} series with their own x values.
  function chart(el, opts) {
    const series = opts.series.filter((s) => s.xs.length);
    if (!series.length || typeof uPlot === "undefined") {
      el.textContent = "no data";
      return null;
    }
    const data = uPlot.join(series.map((s) => [increasing(s.xs), s.ys]));
    const fig = document.createElement("figure");
    fig.className = "chart";
    el.appendChild(fig);
    const scale = opts.unit ? { auto: false, range: [0, 1] } : { auto: true };
    const yScale = opts.yRange ? { auto: false, range: opts.yRange } : scale;
    return new uPlot(
      {
        title: opts.title,
        width: opts.width || 360,
        height: opts.height || 260,
        scales: { x: { time: false, ...scale }, y: { ...yScale } },
        axes: [{ label: opts.xLabel }, { label: opts.yLabel }],
        legend: { show: series.length > 1 || !!opts.legend },
        series: [
          { label: opts.xLabel },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: COLORS[i % COLORS.length],
            width: opts.scatter ? 0 : 1.5,
            spanGaps: true,
            points: { show: !!opts.scatter || s.xs.length < 30, size: 6, fill: COLORS[i % COLORS.length] },
          })),
        ],
      },
      data,
      fig,
    );
  }

  function fmt(v, d = 4) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(d);
  }

  function el(tag, attrs = {}, text = "") {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  }

  return { chart, fmt, el, COLORS };
})();

// Runs page: "Compare selected" needs two or more runs.
(() => {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare");
  const update = () => {
    button.disabled = form.querySelectorAll("input[name=id]:checked").length < 2;
  };
  form.addEventListener("change", update);
  update();
})();

// Plan page: click (or Enter on) a node to see its key, params and inputs.
(() => {
  const details = document.getElementById("node-details");
  if (!details) return;
  const show = (g) => {
    document.querySelectorAll("g.node.picked").forEach((n) => n.classList.remove("picked"));
    g.classList.add("picked");
    const tpl = document.getElementById("node-" + g.dataset.key);
    details.innerHTML = "";
    if (tpl) details.appendChild(tpl.content.cloneNode(true));
  };
  document.querySelectorAll("svg.dag g.node").forEach((g) => {
    g.addEventListener("click", () => show(g));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter") show(g); });
  });
})();
