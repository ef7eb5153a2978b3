// The stove control page (served from /static/stove/: the page's CSP allows no inline script).
// Without a token it asks for one and sends nothing; a 401 stops the polling and asks again,
// so an open tab never fills the audit log with refusals.
(function () {
  "use strict";
  const KEY = "coolstove-token";
  const $ = (id) => document.getElementById(id);
  const token = () => localStorage.getItem(KEY) || "";
  let timer = null;

  class Unauthorised extends Error {}

  function text(tag, s) { const e = document.createElement(tag); e.textContent = s; return e; }

  function stopPolling() { if (timer !== null) { clearInterval(timer); timer = null; } }
  function startPolling() { stopPolling(); timer = setInterval(refresh, 3000); }

  function askForToken(message) {
    stopPolling();
    $("tokenbox").hidden = false;
    $("err").textContent = message;
    $("burners").replaceChildren();
  }

  async function call(method, path, body) {
    if (!token()) throw new Unauthorised("enter the daemon's token");
    const r = await fetch(path, {
      method,
      headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      cache: "no-store",
    });
    if (r.status === 401) throw new Unauthorised("the daemon refused this token: enter it again");
    let data = null;
    try { data = await r.json(); } catch (e) { data = { detail: r.statusText }; }
    if (!r.ok) {
      const d = data && data.detail;
      throw new Error(typeof d === "string" ? d : Array.isArray(d) ? d.map((x) => x.msg).join("; ") : r.statusText);
    }
    return data;
  }

  function failed(e) {
    if (e instanceof Unauthorised) askForToken(e.message);
    else $("err").textContent = e.message;
  }

  async function act(method, path, body) {
    $("err").textContent = "";
    try { await call(method, path, body); } catch (e) { failed(e); if (e instanceof Unauthorised) return; }
    refresh();
  }

  async function refresh() {
    let st;
    try { st = await call("GET", "/api/stove"); } catch (e) { failed(e); return; }
    const box = $("burners"); box.replaceChildren();
    for (const [name, b] of Object.entries(st.burners)) {
      const d = document.createElement("div"); d.className = "burner" + (b.state === "cutting" ? " cutting" : "");
      d.append(text("h3", name + " — " + (b.state === "cutting" ? "cutting" : "armed")));
      d.append(text("p", "relay " + b.relay + (b.reachable === false ? " (unreachable)" : "")
        + (b.deadline ? " · cut at " + new Date(b.deadline).toLocaleTimeString() + " (" + b.time_left_s + " s)" : "")
        + (b.last_cut ? " · last cut " + new Date(b.last_cut.at).toLocaleString() + " by " + b.last_cut.source : "")));
      if (b.owed) {
        d.append(text("p", "CUT OWED since " + new Date(b.owed.since).toLocaleTimeString() + " (" + b.owed.source
          + "): retrying until the relay confirms" + (b.owed.last_error ? " — " + b.owed.last_error : "")));
      }
      const mk = (label, fn) => { const x = text("button", label); x.addEventListener("click", fn); d.append(x); };
      mk("Cut now", () => act("POST", "/api/stove/cut", { burner: name }));
      mk("In 10 min", () => act("POST", "/api/stove/cut", { burner: name, delay_s: "10m" }));
      mk("+5 min", () => act("POST", "/api/stove/extend", { burner: name, by_s: "5m" }));
      mk("Cancel", () => act("POST", "/api/stove/cancel", { burner: name }));
      box.append(d);
    }
    const ul = $("schedules"); ul.replaceChildren();
    for (const s of st.schedules) {
      const li = text("li", s.cron + " → " + s.burners.join(", ") + " (next " + (s.next ? new Date(s.next).toLocaleString() : "–") + ") ");
      const x = text("button", "remove");
      x.addEventListener("click", () => act("DELETE", "/api/stove/schedules/" + encodeURIComponent(s.id)));
      li.append(x);
      ul.append(li);
    }
    try {
      const log = await call("GET", "/api/stove/log?limit=15"); const l = $("log"); l.replaceChildren();
      for (const e of log) l.append(text("li", new Date(e.ts).toLocaleString() + " " + e.source + " " + e.action + " " + e.burner + ": " + e.result + (e.detail ? " (" + e.detail + ")" : "")));
    } catch (e) { if (e instanceof Unauthorised) failed(e); }
  }

  function save() {
    const value = $("token").value.trim();
    if (!value) return;
    localStorage.setItem(KEY, value);
    $("token").value = "";
    $("tokenbox").hidden = true;
    $("err").textContent = "";
    refresh();
    startPolling();
  }

  $("save").addEventListener("click", save);
  $("token").addEventListener("keydown", (ev) => { if (ev.key === "Enter") save(); });
  $("addsched").addEventListener("click", () => act("POST", "/api/stove/schedules", { burner: "all", cron: $("cron").value }));

  if (!token()) askForToken("");
  else { refresh(); startPolling(); }
})();
