// aidmp dashboard: draws the charts described by data-chart attributes and keeps range inputs'
// visible values in step. No inline scripts: the page's CSP forbids them.
// ECharts (a custom build, <body data-echarts>) is fetched the first time a chart comes near
// the screen: pages without a chart, or whose charts stay below the fold, never parse it.
(function () {
  "use strict";
  var loading = null;
  function withECharts(then) {
    if (window.echarts) { then(); return; }
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = document.body.dataset.echarts;
        s.onload = resolve;
        s.onerror = reject;
        document.head.appendChild(s);
      });
    }
    loading.then(then);
  }
  function drawOne(el) {
    if (el.dataset.drawn === "1" || !el.isConnected) { return; }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(JSON.parse(el.dataset.chart));
    el.dataset.drawn = "1";
    el._chart = chart;
  }
  var near = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (!e.isIntersecting) { return; }
      near.unobserve(e.target);
      withECharts(function () { drawOne(e.target); });
    });
  }, { rootMargin: "200px" }) : null;
  function draw(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-chart]"));
    if (root.matches && root.matches("[data-chart]")) { found.push(root); }
    found.forEach(function (el) {
      if (el.dataset.watched === "1") { return; }
      el.dataset.watched = "1";
      if (near) { near.observe(el); } else { withECharts(function () { drawOne(el); }); }
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
