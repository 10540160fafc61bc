// Compare page: every run's leaderboard (selection metric by rank) on one chart.
"use strict";
(() => {
  const boards = JSON.parse(document.getElementById("boards-data").textContent);
  Sous.chart(document.getElementById("boards"), {
    title: "leaderboards", xLabel: "rank", yLabel: "score", width: 640, height: 280, legend: true,
    series: boards.map(([run, ys]) => ({ label: run, xs: ys.map((_, i) => i + 1), ys })),
  });
})();
