// The web terminal: xterm.js on a WebSocket bridged to a shell on the server
// (devflow/servers/terminal.py). Binary frames carry terminal bytes both ways;
// text frames carry JSON: {"resize": [cols, rows]} out, {"status": ...} in.
(function () {
  "use strict";
  var screen = document.getElementById("terminal");
  if (!screen || !window.Terminal || !window.FitAddon) return;
  var statusText = document.getElementById("terminal-status");
  var badge = document.getElementById("terminal-badge");
  var reconnect = document.getElementById("terminal-reconnect");
  var encoder = new TextEncoder();

  var term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: window.innerWidth < 500 ? 12 : 14,
    scrollback: 5000,
    theme: { background: "#0f1320", foreground: "#d7dde8", cursor: "#d7dde8" },
  });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();

  var socket = null;
  var reason = "";

  function setStatus(text, colour) {
    statusText.textContent = text;
    badge.className = "badge badge-" + colour;
  }

  function send(data) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(data);
  }

  function connect() {
    reason = "";
    reconnect.hidden = true;
    setStatus("Connecting to " + screen.dataset.server + "…", "blue");
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + screen.dataset.wsPath + "?cols=" + term.cols + "&rows=" + term.rows;
    var ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    socket = ws;
    ws.onmessage = function (event) {
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      var message = JSON.parse(event.data);
      if (message.status === "connected") {
        var fingerprint = message.fingerprint ? " (" + message.fingerprint + ")" : "";
        setStatus("Connected to " + message.server + fingerprint, "green");
        send(JSON.stringify({ resize: [term.cols, term.rows] }));
      } else if (message.status === "closed") {
        reason = message.reason || "";
      }
    };
    ws.onclose = function (event) {
      if (socket !== ws) return;  // an older socket, replaced by Reconnect
      socket = null;
      var why = reason || (event.code === 1006 ? "the connection was refused or lost" : "");
      setStatus("Disconnected" + (why ? ": " + why : ""), "grey");
      reconnect.hidden = false;
    };
    term.focus();
  }

  term.onData(function (data) { send(encoder.encode(data)); });
  // Some mouse reports are raw bytes, not UTF-8 text.
  term.onBinary(function (data) {
    var bytes = new Uint8Array(data.length);
    for (var i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 255;
    send(bytes);
  });
  term.onResize(function (size) { send(JSON.stringify({ resize: [size.cols, size.rows] })); });

  var pending = null;
  function refit() {
    clearTimeout(pending);
    pending = setTimeout(function () { fit.fit(); }, 80);
  }
  if (window.ResizeObserver) new ResizeObserver(refit).observe(screen);
  else window.addEventListener("resize", refit);

  reconnect.addEventListener("click", function () {
    if (socket) socket.close();
    term.reset();
    connect();
  });
  connect();
})();
