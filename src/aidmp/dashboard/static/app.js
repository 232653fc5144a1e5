// aidmp dashboard: draws the charts described by data-chart attributes (ECharts) and keeps
// range inputs' visible values in step. No inline scripts: the page's CSP forbids them.
(function () {
  "use strict";
  function draw(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn === "1") { return; }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(el.dataset.chart));
      el.dataset.drawn = "1";
      el._chart = chart;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el._chart) { el._chart.resize(); }
    });
  });
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t.matches && t.matches("input[type=range][data-output]")) {
      var out = document.getElementById(t.dataset.output);
      if (out) { out.textContent = Number(t.value).toLocaleString(document.documentElement.lang); }
    }
  });
})();
