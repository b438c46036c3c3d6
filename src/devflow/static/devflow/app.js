// Small page helpers: theme toggle, confirmations, busy buttons, live job logs.
function devflowToggleTheme() {
  var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("devflow-theme", next);
}

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  var button = form.querySelector("button[type=submit][data-busy]");
  if (button) {
    button.disabled = true;
    button.innerHTML = '<span class="spinner"></span> ' + button.getAttribute("data-busy");
  }
});

// Stream a job's log over a WebSocket; fall back to polling if WebSockets are unavailable.
function devflowFollowJob(el) {
  var jobId = el.dataset.jobId;
  var after = parseInt(el.dataset.after || "-1", 10);
  var log = el.querySelector(".log");
  var status = document.getElementById("job-status");
  var progress = document.getElementById("job-progress");
  function append(lines) {
    lines.forEach(function (line) {
      var div = document.createElement("div");
      div.className = line.stream;
      div.textContent = line.text;
      log.appendChild(div);
      after = line.seq;
    });
    if (lines.length) log.scrollTop = log.scrollHeight;
  }
  function show(job) {
    if (status) { status.textContent = job.status_label || job.status; status.className = "badge badge-" + (job.colour || "blue"); }
    if (progress) progress.style.width = job.progress + "%";
    if (["queued", "running"].indexOf(job.status) < 0) {
      var done = document.getElementById("job-finished-hint");
      if (done) done.hidden = false;
      var live = document.getElementById("job-live-hint");
      if (live) live.hidden = true;
      // Refresh the summary (finish time, duration, error) from the server, once.
      if (!el.dataset.summaryRefreshed && window.htmx) {
        el.dataset.summaryRefreshed = "1";
        htmx.ajax("GET", location.pathname, { target: "#job-summary", select: "#job-summary", swap: "outerHTML" });
      }
      var cancel = document.getElementById("job-cancel");
      if (cancel) cancel.hidden = true;
      return true;
    }
    return false;
  }
  function poll() {
    fetch(el.dataset.pollUrl + "?after=" + after, { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { append(data.lines); if (!show(data.job)) setTimeout(poll, 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (!("WebSocket" in window)) { poll(); return; }
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var socket = new WebSocket(scheme + location.host + "/ws/jobs/" + jobId + "/log?after=" + after);
  var finished = false;
  var polling = false;
  function fallBack() {
    // The socket failed or dropped before the job ended: keep the page live by polling.
    if (!finished && !polling) { polling = true; poll(); }
  }
  socket.onmessage = function (event) {
    var data = JSON.parse(event.data);
    append(data.lines);
    finished = show(data.job);
  };
  socket.onerror = fallBack;
  socket.onclose = fallBack;
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-follow-job]").forEach(devflowFollowJob);
});

// Copy a field's text (the Copy buttons next to public keys, webhook URLs and secrets).
// The Clipboard API needs a secure context; over plain http, select the text and copy that.
function devflowCopy(field) {
  var text = "value" in field ? field.value : field.textContent.trim();
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  if (field.select) field.select();
  return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}
