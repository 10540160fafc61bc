// Sweep page: each trial's score in finishing order, the best so far, pruned trials marked.
"use strict";
(() => {
  const d = JSON.parse(document.getElementById("history-data").textContent);
  const order = d.trials.map((t, i) => ({ ...t, i: i + 1 }));
  const done = order.filter((t) => t.value !== null);
  const best = [];
  let b = null;
  const greater = document.querySelector(".meta").textContent.includes("higher");
  for (const t of done) {
    if (b === null || (greater ? t.value > b : t.value < b)) b = t.value;
    best.push(b);
  }
  const pruned = order.filter((t) => t.pruned);
  const padded = (vs) => {
    const lo = Math.min(...vs), hi = Math.max(...vs), pad = (hi - lo) * 0.1 || 0.01;
    return [lo - pad, hi + pad];
  };
  const low = done.length ? Math.min(...done.map((t) => t.value)) : 0;
  Sous.chart(document.getElementById("history"), {
    title: "history", xLabel: "trial (finishing order)", yLabel: d.metric, width: 640, height: 280,
    legend: true,
    series: [
      { label: "trial", xs: done.map((t) => t.i), ys: done.map((t) => t.value) },
      { label: "best so far", xs: done.map((t) => t.i), ys: best },
      { label: "pruned", xs: pruned.map((t) => t.i), ys: pruned.map(() => low) },
    ],
  });
  // the same against time, when the trials' finishing times are known
  if (done.length && done.every((t) => t.t !== null && t.t !== undefined)) {
    Sous.chart(document.getElementById("history"), {
      title: "best so far against time", xLabel: "seconds since the first trial finished",
      yLabel: d.metric, width: 480, height: 280, yRange: padded(done.map((t) => t.value)),
      series: [{ label: "best so far", xs: done.map((t) => t.t), ys: best }],
    });
  }
})();
