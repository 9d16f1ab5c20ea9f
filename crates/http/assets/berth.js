// Follows an environment's creation log while it is busy; without this script the page still
// shows the log so far (reload for more).
const log = document.getElementById("log");
if (log && log.dataset.follow) {
  fetch(log.dataset.follow, { credentials: "same-origin" }).then(async (response) => {
    if (!response.ok || !response.body) return;
    const reader = response.body.getReader();
    const text = new TextDecoder();
    log.textContent = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      log.textContent += text.decode(value, { stream: true });
      log.scrollTop = log.scrollHeight;
    }
    // It settled: show its new state and actions.
    location.reload();
  });
}
