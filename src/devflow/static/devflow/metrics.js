// Server metrics charts (uPlot): one JSON request per range, again every 30 s on the 1 h range.
// Each chart's legend shows the newest values, or the values under the cursor.
(function () {
  "use strict";

  var UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  var LIVE_SECONDS = 30;
  var HEIGHT = 180;
  // Seconds between points of each resolution: a longer gap is drawn as a gap.
  var STEP = { raw: 60, "1m": 60, "10m": 600, "1h": 3600 };

  function bytes(value) {
    if (value == null) return "—";
    var number = value, unit = 0;
    while (Math.abs(number) >= 1024 && unit < UNITS.length - 1) { number /= 1024; unit += 1; }
    if (unit === 0) return Math.round(number) + " B";
    return (Math.abs(number) < 100 ? number.toFixed(1) : Math.round(number)) + " " + UNITS[unit];
  }
  var FORMAT = {
    percent: function (v) { return v == null ? "—" : v.toFixed(1) + "%"; },
    bytes: bytes,
    rate: function (v) { return v == null ? "—" : bytes(v) + "/s"; },
    number: function (v) { return v == null ? "—" : v.toFixed(2); },
  };
  // Axis ticks: shorter than the legend (no decimals on round numbers).
  var TICK = {
    percent: function (v) { return Math.round(v) + "%"; },
    bytes: function (v) { return bytes(v).replace(".0 ", " "); },
    rate: function (v) { return bytes(v).replace(".0 ", " ") + "/s"; },
    number: function (v) { return String(Math.round(v * 100) / 100); },
  };

  // Byte axes step in binary units (1, 2, 5, 10, 25, 50... KiB, MiB, GiB), not decimal ones.
  var BINARY_STEPS = [];
  [1, 1024, Math.pow(1024, 2), Math.pow(1024, 3), Math.pow(1024, 4), Math.pow(1024, 5)].forEach(function (base) {
    [1, 2, 5, 10, 25, 50, 100, 250, 500].forEach(function (m) { BINARY_STEPS.push(m * base); });
  });
  var DECIMAL_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000];

  var AXIS_FONT = "12px system-ui, -apple-system, sans-serif";
  var measure = document.createElement("canvas").getContext("2d");
  measure.font = AXIS_FONT;
  // Wide enough for the longest tick label, plus the tick and the gap before it.
  function axisWidth(u, values) {
    if (!values) return 40;
    var widest = 0;
    values.forEach(function (v) { if (v) widest = Math.max(widest, measure.measureText(v).width); });
    return Math.ceil(widest) + 20;
  }

  function when(seconds, withDate) {
    var options = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (withDate) { options.month = "short"; options.day = "numeric"; }
    return new Date(seconds * 1000).toLocaleString([], options);
  }

  var CHARTS = {
    cpu: { unit: "percent", max: 100, series: [["cpu_percent", "CPU", "--accent"]] },
    memory: { unit: "bytes", series: [["mem_used", "Used", "--accent"], ["mem_total", "Total", "--muted"]] },
    disk: { unit: "bytes", series: [["disk_used", "Used", "--accent"], ["disk_total", "Total", "--muted"]] },
    diskio: { unit: "rate", series: [["disk_read_bps", "Read", "--ok"], ["disk_write_bps", "Write", "--warn"]] },
    network: { unit: "rate", series: [["net_rx_bps", "In", "--ok"], ["net_tx_bps", "Out", "--info"]] },
    load: { unit: "number", series: [["load1", "Load (1 min)", "--accent"]] },
  };

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function lastValue(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }

  // Put a null between two points further apart than a few steps, so uPlot draws a gap.
  function withGaps(columns, fields) {
    var step = STEP[columns.resolution] || 60;
    var out = { at: [] };
    fields.forEach(function (f) { out[f] = []; });
    for (var i = 0; i < columns.at.length; i++) {
      if (i > 0 && columns.at[i] - columns.at[i - 1] > 3 * step) {
        out.at.push(columns.at[i - 1] + step);
        fields.forEach(function (f) { out[f].push(null); });
      }
      out.at.push(columns.at[i]);
      fields.forEach(function (f) { out[f].push(columns[f][i]); });
    }
    return out;
  }

  function makeChart(figure, state) {
    var spec = CHARTS[figure.dataset.chart];
    var plot = figure.querySelector(".chart-plot");
    var format = FORMAT[spec.unit];
    var latest = [];
    var series = [{
      // With no point under the cursor: the time of the newest point.
      value: function (u, v, sidx, idx) {
        var at = idx == null ? latest[0] : v;
        return at == null ? "—" : when(at, state.span > 86400);
      },
    }];
    spec.series.forEach(function (s, index) {
      var stroke = colour(s[2]);
      series.push({
        label: s[1],
        stroke: stroke,
        width: s[2] === "--muted" ? 1 : 1.5,
        dash: s[2] === "--muted" ? [4, 4] : undefined,
        fill: index === 0 && s[2] !== "--muted" ? stroke + "22" : undefined,
        points: { show: false },
        // With no point under the cursor, the legend shows the newest value.
        value: function (u, v, sidx, idx) { return format(idx == null ? latest[sidx] : v); },
      });
    });
    var grid = { stroke: colour("--border"), width: 1 };
    var options = {
      width: Math.max(plot.clientWidth, 200),
      height: HEIGHT,
      series: series,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true, range: function () { return [state.until - state.span, state.until]; } },
        y: {
          range: function (u, min, max) {
            if (spec.max) return [0, spec.max];
            return [0, max > 0 ? max * 1.15 : 1];
          },
        },
      },
      axes: [
        {
          stroke: colour("--muted"), grid: grid, ticks: grid, font: AXIS_FONT, space: 60, size: 32,
          values: function (u, splits, axisIdx, space, step) {
            return splits.map(function (at) {
              var date = new Date(at * 1000);
              if (step >= 86400 || (state.span > 86400 && date.getHours() === 0 && date.getMinutes() === 0)) {
                return date.toLocaleDateString([], { month: "short", day: "numeric" });
              }
              return when(at, false);
            });
          },
        },
        {
          stroke: colour("--muted"), grid: grid, ticks: grid, font: AXIS_FONT, size: axisWidth,
          incrs: spec.unit === "bytes" || spec.unit === "rate" ? BINARY_STEPS : DECIMAL_STEPS,
          values: function (u, splits) { return splits.map(TICK[spec.unit]); },
        },
      ],
    };
    var chart = new uPlot(options, [[]].concat(spec.series.map(function () { return []; })), plot);
    var fields = spec.series.map(function (s) { return s[0]; });
    return {
      figure: figure,
      chart: chart,
      show: function (columns) {
        var data = withGaps(columns, fields);
        latest = [lastValue(columns.at)].concat(fields.map(function (f) { return lastValue(columns[f]); }));
        chart.setData([data.at].concat(fields.map(function (f) { return data[f]; })));
        chart.setLegend({ idx: null });
        figure.dataset.points = String(columns.at.length);
        figure.dataset.last = latest[1] == null ? "" : String(latest[1]);
        figure.querySelector(".chart-empty").hidden = columns.at.length > 0;
      },
      resize: function () {
        chart.setSize({ width: Math.max(plot.clientWidth, 200), height: HEIGHT });
      },
    };
  }

  function start(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    var spans = JSON.parse(document.getElementById("metrics-spans").textContent);
    var state = { range: root.dataset.range, span: spans[root.dataset.range], until: Date.now() / 1000 };
    var charts = [];
    var shown = null; // the columns on the charts now
    function build() {
      charts.forEach(function (c) { c.chart.destroy(); });
      charts = Array.prototype.map.call(root.querySelectorAll("[data-chart]"), function (f) {
        return makeChart(f, state);
      });
      if (shown) charts.forEach(function (c) { c.show(shown); });
    }
    build();
    // The colours come from the theme: draw again when it is toggled.
    new MutationObserver(build).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    var status = root.querySelector("[data-metrics-status]");
    var csv = root.querySelector("[data-csv]");
    var timer = null;
    var asked = 0;

    function load() {
      var ask = ++asked;
      var range = state.range;
      root.setAttribute("aria-busy", "true");
      fetch(root.dataset.seriesUrl + "?range=" + encodeURIComponent(range), {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (columns) {
          if (ask !== asked) return; // a newer request (another range) went out since
          state.span = spans[columns.range];
          state.until = Date.now() / 1000;
          shown = columns;
          charts.forEach(function (c) { c.show(columns); });
          root.dataset.loaded = columns.range;
          root.dataset.points = String(columns.at.length);
          if (status) status.textContent = columns.at.length
            ? columns.at.length + " points, updated " + new Date().toLocaleTimeString()
            : "No data for this range yet.";
        })
        .then(function () { return true; }, function () {
          if (status) status.textContent = "Could not load the metrics; trying again shortly.";
          return false;
        })
        .then(function (ok) { root.removeAttribute("aria-busy"); schedule(!ok); });
    }

    // The 1 h range (and a failed request, on any range) is fetched again while the tab is visible.
    function schedule(retry) {
      clearTimeout(timer);
      if (state.range !== "1h" && !retry) return;
      timer = setTimeout(function () { if (!document.hidden) load(); else schedule(retry); }, LIVE_SECONDS * 1000);
    }

    function choose(range) {
      state.range = range;
      root.dataset.range = range;
      root.querySelectorAll("[data-range]").forEach(function (b) {
        var on = b.dataset.range === range;
        b.classList.toggle("active", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
      if (csv) csv.href = csv.href.replace(/range=[^&]*/, "range=" + encodeURIComponent(range));
      var url = new URL(location.href);
      url.searchParams.set("range", range);
      history.replaceState(null, "", url);
      load();
    }

    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-range]");
      if (!button) return;
      event.preventDefault();
      if (button.dataset.range !== state.range) choose(button.dataset.range);
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && state.range === "1h") load();
    });
    if ("ResizeObserver" in window) {
      var observer = new ResizeObserver(function () { charts.forEach(function (c) { c.resize(); }); });
      root.querySelectorAll(".chart-plot").forEach(function (plot) { observer.observe(plot); });
    } else {
      window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    }
    load();
  }

  function init() {
    document.querySelectorAll("[data-metrics]").forEach(start);
    // No sample yet: look again shortly (the first one arrives within a minute).
    var empty = document.querySelector("[data-metrics-empty]");
    if (empty) setTimeout(function () { location.reload(); }, 1000 * parseInt(empty.dataset.reloadSeconds || "30", 10));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
