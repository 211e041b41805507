// The owner dashboard's enhancements; every action works without them.
// - "Copy" buttons copy the text of the element they name (data-copy="id").
// - The recent-calls table (data-recent="KEY_ID") refreshes every 5 seconds from the owner
//   API, with the session cookie (reads need no CSRF token).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.dataset.done = "1";
        button.textContent = button.dataset.copied || button.textContent;
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
    });
  }
  const table = document.querySelector("table[data-recent]");
  if (table) {
    const body = table.querySelector("tbody");
    const refresh = async () => {
      try {
        const res = await fetch(`/v1/keys/${table.dataset.recent}/recent?limit=20`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!res.ok) return;
        const data = await res.json();
        const rows = data.items.map((c) => {
          const tr = document.createElement("tr");
          for (const [text, num] of [[c.at, false], [`${c.method} ${c.route}`, false], [String(c.status), true], [c.durationMs.toFixed(3), true], [c.cost, true]]) {
            const td = document.createElement("td");
            td.textContent = text;
            if (num) td.className = "num";
            tr.appendChild(td);
          }
          return tr;
        });
        if (rows.length > 0) body.replaceChildren(...rows);
      } catch (_) {
        // Offline or signed out: the button still reloads the page.
      }
    };
    setInterval(refresh, 5000);
  }
});
