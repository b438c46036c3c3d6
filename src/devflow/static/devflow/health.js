// A health check's response-time chart (uPlot): average and slowest answer per bucket,
// failed checks as red marks on the time axis. One JSON request per range, again every minute.
(function () {
  "use strict";

  var HEIGHT = 200;
  var REFRESH_SECONDS = 60;
  var AXIS_FONT = "12px system-ui, -apple-system, sans-serif";

  var measure = document.createElement("canvas").getContext("2d");
  measure.font = AXIS_FONT;
  // Wide enough for the longest tick label, plus the tick and the gap before it.
  function axisWidth(u, values) {
    if (!values) return 48;
    var widest = 0;
    values.forEach(function (v) { if (v) widest = Math.max(widest, measure.measureText(v).width); });
    return Math.ceil(widest) + 20;
  }

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function ms(value) {
    if (value == null) return "—";
    return value >= 10000 ? (value / 1000).toFixed(1) + " s" : Math.round(value) + " ms";
  }

  function when(seconds, withDate) {
    var options = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (withDate) { options.month = "short"; options.day = "numeric"; }
    return new Date(seconds * 1000).toLocaleString([], options);
  }

  function last(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }

  // A null between buckets further apart than a few checks, so uPlot draws a gap.
  function withGaps(columns, interval) {
    var gap = 3 * Math.max(columns.step, interval);
    var out = { at: [], avg: [], max: [], down: [], failed: [] };
    for (var i = 0; i < columns.at.length; i++) {
      if (i > 0 && columns.at[i] - columns.at[i - 1] > gap) {
        out.at.push(columns.at[i - 1] + columns.step);
        out.avg.push(null); out.max.push(null); out.down.push(null); out.failed.push(0);
      }
      out.at.push(columns.at[i]);
      out.avg.push(columns.avg_ms[i]);
      out.max.push(columns.max_ms[i]);
      out.down.push(columns.down[i] > 0 ? 0 : null);
      out.failed.push(columns.down[i]);
    }
    return out;
  }

  function start(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    var spans = JSON.parse(document.getElementById("health-spans").textContent);
    var interval = parseInt(root.dataset.interval || "60", 10);
    var figure = root.querySelector(".chart");
    var plot = figure.querySelector(".chart-plot");
    var status = root.querySelector("[data-health-status]");
    var state = { range: root.dataset.range, span: spans[root.dataset.range], until: Date.now() / 1000 };
    var chart = null, shown = null, latest = [null, null, null, 0], failed = [], timer = null, asked = 0;

    function build() {
      if (chart) chart.destroy();
      var red = colour("--danger"), accent = colour("--accent"), muted = colour("--muted");
      var grid = { stroke: colour("--border"), width: 1 };
      chart = new uPlot({
        width: Math.max(plot.clientWidth, 200),
        height: HEIGHT,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        series: [
          { value: function (u, v, s, idx) { var at = idx == null ? latest[0] : v; return at == null ? "—" : when(at, state.span > 86400); } },
          { label: "Average", stroke: accent, width: 1.5, fill: accent + "22", points: { show: false },
            value: function (u, v, s, idx) { return ms(idx == null ? latest[1] : v); } },
          { label: "Slowest", stroke: muted, width: 1, dash: [4, 4], points: { show: false },
            value: function (u, v, s, idx) { return ms(idx == null ? latest[2] : v); } },
          { label: "Down", stroke: red, fill: red, width: 0, paths: function () { return null; },
            points: { show: true, size: 7, stroke: red, fill: red },
            value: function (u, v, s, idx) { return idx == null ? String(latest[3]) : String(failed[idx] || 0); } },
        ],
        scales: {
          x: { time: true, range: function () { return [state.until - state.span, state.until]; } },
          y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 100]; } },
        },
        axes: [
          { stroke: muted, grid: grid, ticks: grid, font: AXIS_FONT, space: 60, size: 32,
            values: function (u, splits, axisIdx, space, step) {
              return splits.map(function (at) {
                return step >= 86400 ? new Date(at * 1000).toLocaleDateString([], { month: "short", day: "numeric" }) : when(at, false);
              });
            } },
          { stroke: muted, grid: grid, ticks: grid, font: AXIS_FONT, size: axisWidth,
            values: function (u, splits) { return splits.map(ms); } },
        ],
      }, [[], [], [], []], plot);
      if (shown) show(shown);
    }

    function show(columns) {
      var data = withGaps(columns, interval);
      failed = data.failed;
      var downs = columns.down.reduce(function (a, b) { return a + b; }, 0);
      latest = [last(columns.at), last(columns.avg_ms), last(columns.max_ms), downs];
      chart.setData([data.at, data.avg, data.max, data.down]);
      chart.setLegend({ idx: null });
      figure.dataset.points = String(columns.at.length);
      figure.querySelector(".chart-empty").hidden = columns.at.length > 0;
    }

    function load() {
      var ask = ++asked;
      root.setAttribute("aria-busy", "true");
      fetch(root.dataset.seriesUrl + "?range=" + encodeURIComponent(state.range), {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (columns) {
          if (ask !== asked) return;
          state.span = columns.span;
          state.until = Date.now() / 1000;
          shown = columns;
          show(columns);
          root.dataset.loaded = columns.range;
          if (status) status.textContent = columns.at.length
            ? "Average and slowest answer per " + (columns.step >= 3600 ? columns.step / 3600 + " h" : columns.step / 60 + " min") + "; red marks: checks that were down."
            : "No results in this range yet.";
        })
        .catch(function () { if (status) status.textContent = "Could not load the chart; trying again shortly."; })
        .then(function () {
          root.removeAttribute("aria-busy");
          clearTimeout(timer);
          timer = setTimeout(function () { if (!document.hidden) load(); }, REFRESH_SECONDS * 1000);
        });
    }

    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-range]");
      if (!button || button === root) return;
      event.preventDefault();
      if (button.dataset.range === state.range) return;
      state.range = button.dataset.range;
      root.dataset.range = state.range;
      root.querySelectorAll("a[data-range]").forEach(function (b) {
        var on = b.dataset.range === state.range;
        b.classList.toggle("active", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
      var url = new URL(location.href);
      url.searchParams.set("range", state.range);
      history.replaceState(null, "", url);
      load();
    });

    build();
    new MutationObserver(build).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    if ("ResizeObserver" in window) {
      new ResizeObserver(function () { chart.setSize({ width: Math.max(plot.clientWidth, 200), height: HEIGHT }); }).observe(plot);
    }
    load();
  }

  function init() { document.querySelectorAll("[data-health-chart]").forEach(start); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
