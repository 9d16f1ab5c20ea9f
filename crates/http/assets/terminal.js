// The terminal of an environment's page: xterm.js over the terminal WebSocket. The first message
// gives the window's size; keystrokes go as binary messages, resizes as {"resize": [cols, rows]};
// the terminal's output comes back as binary messages, its end as {"exit_code": N}.
const box = document.getElementById("terminal");
// The cursor does not blink: a blinking cursor is redrawn on every key, and Chromium hands the page
// the echo's message only after painting that frame (14 ms instead of 2; docs/benchmarks.md).
const term = new Terminal({ fontSize: 14, scrollback: 5000 });
const fit = new FitAddon.FitAddon();
term.loadAddon(fit);
term.open(box);
fit.fit();
term.focus();
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new WebSocket(`${scheme}//${location.host}${box.dataset.socket}`);
socket.binaryType = "arraybuffer";
const bytes = new TextEncoder();
const send = (data) => socket.readyState === WebSocket.OPEN && socket.send(data);
socket.onopen = () => {
  socket.send(JSON.stringify({ cols: term.cols, rows: term.rows, term: "xterm-256color" }));
  box.dataset.state = "open";
};
socket.onmessage = (message) => {
  if (typeof message.data === "string") {
    const said = JSON.parse(message.data);
    if ("exit_code" in said) term.write(`\r\n[the shell ended with status ${said.exit_code}]\r\n`);
    else if (said.error) term.write(`\r\n[${said.error}]\r\n`);
    return;
  }
  term.write(new Uint8Array(message.data));
};
socket.onclose = () => {
  box.dataset.state = "closed";
  term.write("\r\n[disconnected: reload the page to open a new terminal]\r\n");
};
term.onData((data) => send(bytes.encode(data)));
term.onResize(({ cols, rows }) => send(JSON.stringify({ resize: [cols, rows] })));
new ResizeObserver(() => fit.fit()).observe(box);
