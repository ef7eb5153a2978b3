// [FAQ]: a paper's FAQ from a language model, opened under the paper without leaving the page.
// Without this file the [FAQ] link opens /faq/<id>, which works on its own. The answer's HTML is
// rendered on the server (raw HTML off, http(s) links only); here it is only placed and its maths
// (span.math / div.math, escaped TeX) given to KaTeX.
(function () {
  "use strict";

  var NAMES = { en: "English", zh: "\u4e2d\u6587" };
  var TERMINAL = { done: true, error: true, none: true };

  function renderMath(root) {
    if (!window.katex) return;
    root.querySelectorAll(".math").forEach(function (el) {
      var display = el.classList.contains("display") || el.classList.contains("block");
      try {
        window.katex.render(el.textContent, el, { displayMode: display, throwOnError: false, trust: false });
      } catch (e) {
        // what KaTeX cannot handle stays its source
      }
    });
  }

  function element(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text) el.textContent = text;
    return el;
  }

  function statusText(state) {
    if (state.status === "queued") return "Pending: " + state.position;
    if (state.status === "running") return state.detail || "Writing\u2026";
    return "";
  }

  function show(pane, state) {
    pane.dataset.status = state.status || "error";
    pane.querySelector(".faq-status").textContent = statusText(state);
    var err = pane.querySelector(".faq-error");
    err.textContent = state.status === "error" ? (state.error || "the FAQ could not be made") : "";
    err.hidden = state.status !== "error";
    var note = pane.querySelector(".faq-note");
    note.textContent = state.note || "";
    note.hidden = !state.note;
    var body = pane.querySelector(".faq-body");
    if (state.html !== undefined && body.dataset.html !== state.html) { // undefined: keep what is shown
      body.dataset.html = state.html || "";
      body.innerHTML = state.html || ""; // server-rendered: no raw HTML from the model, http(s) links only
      renderMath(body);
    }
    pane.querySelector(".faq-model").textContent =
      state.status === "done" ? "Written by " + state.model + " from the paper's PDF; it may be wrong." : "";
  }

  function stop(pane) {
    if (pane.source) { pane.source.close(); pane.source = null; }
    if (pane.retry) { clearTimeout(pane.retry); pane.retry = null; }
  }

  function follow(pane, id, lang) {
    stop(pane);
    var source = new EventSource("/faq-stream/" + id + "?lang=" + encodeURIComponent(lang));
    pane.source = source;
    source.onmessage = function (ev) {
      var state = JSON.parse(ev.data);
      pane.failures = 0;
      show(pane, state);
      if (TERMINAL[state.status]) stop(pane);
    };
    source.onerror = function () {
      // the daemon restarted, or the network went: follow again in a while (the job goes on regardless)
      stop(pane);
      pane.failures = (pane.failures || 0) + 1;
      if (pane.failures > 5) {
        show(pane, { status: "error", error: "the FAQ's progress cannot be followed; open it again later" });
      } else if (pane.isConnected) {
        pane.retry = setTimeout(function () { follow(pane, id, lang); }, 3000);
      }
    };
  }

  function ask(pane, id, lang) {
    stop(pane);
    pane.dataset.lang = lang;
    pane.querySelectorAll(".faq-langs button").forEach(function (b) {
      b.setAttribute("aria-pressed", b.dataset.lang === lang ? "true" : "false");
    });
    pane.querySelector(".faq-status").textContent = "Asking\u2026";
    fetch("/faq/" + id + "?lang=" + encodeURIComponent(lang), {
      method: "POST", headers: { Accept: "application/json" }, credentials: "same-origin",
    })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        if (state.error && !state.status) state = { status: "error", error: state.error }; // refused (503, 404)
        show(pane, state);
        if (!TERMINAL[state.status]) follow(pane, id, lang);
      })
      .catch(function () {
        show(pane, { status: "error", error: "the daemon could not be reached" });
      });
  }

  function makePane(paper, link) {
    var pane = element("section", "faq-pane");
    pane.setAttribute("aria-label", "FAQ");
    var head = element("div", "faq-head");
    var langs = element("span", "faq-langs");
    var codes = (link.dataset.langs || "en").split(" ");
    var id = paper.dataset.id;
    codes.forEach(function (code) {
      var b = element("button", "faq-lang", NAMES[code] || code);
      b.type = "button";
      b.dataset.lang = code;
      b.addEventListener("click", function () { ask(pane, id, code); });
      langs.appendChild(b);
    });
    if (codes.length > 1) head.appendChild(langs);
    var status = element("span", "faq-status");
    status.setAttribute("role", "status");
    head.appendChild(status);
    var close = element("button", "faq-close", "\u00d7");
    close.type = "button";
    close.title = "close the FAQ";
    close.addEventListener("click", function () { stop(pane); pane.remove(); });
    head.appendChild(close);
    pane.appendChild(head);
    var err = element("p", "faq-error");
    err.setAttribute("role", "alert");
    err.hidden = true;
    pane.appendChild(err);
    var note = element("p", "faq-note");
    note.hidden = true;
    pane.appendChild(note);
    pane.appendChild(element("div", "faq-body"));
    pane.appendChild(element("p", "faq-model"));
    var actions = paper.querySelector(".actions");
    actions.parentNode.insertBefore(pane, actions.nextSibling);
    ask(pane, id, codes[0]);
    return pane;
  }

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("a.title-faq");
    if (!link || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    var paper = link.closest(".paper[data-id]");
    if (!paper || !paper.querySelector(".actions")) return;
    ev.preventDefault(); // no stopPropagation: the click counter listens further up
    var open = paper.querySelector(".faq-pane");
    if (open) { stop(open); open.remove(); return; } // the second click collapses it
    makePane(paper, link);
  });
})();
