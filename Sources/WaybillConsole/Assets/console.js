// Waybill console: confirmations before actions, and the live figures. No inline script anywhere
// (the Content-Security-Policy allows only this file).
"use strict";

document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

(function live() {
  const section = document.getElementById("live");
  if (!section) return;
  let previous = null;
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  async function sample() {
    try {
      const response = await fetch(section.dataset.source, { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const now = await response.json();
      show("live-queue", String(now.writer_queue_depth));
      show("live-connections", String(now.connections));
      if (previous) {
        const seconds = Math.max((now.now_unix_ms - previous.now_unix_ms) / 1000, 0.001);
        const calls = now.calls - previous.calls;
        show("live-orders", ((now.orders_captured - previous.orders_captured) / seconds * 60).toFixed(0));
        show("live-calls", (calls / seconds).toFixed(1));
        show("live-latency", calls > 0 ? ((now.call_seconds - previous.call_seconds) / calls * 1000).toFixed(2) + " ms" : "no calls");
        show("live-errors", ((now.call_errors - previous.call_errors) / seconds).toFixed(2));
      }
      show("live-updated", "updated " + new Date(now.now_unix_ms).toISOString().slice(11, 19) + " UTC");
      previous = now;
    } catch (error) {
      show("live-updated", "not updated: " + error.message);
    }
  }
  sample();
  setInterval(sample, 2000);
})();
