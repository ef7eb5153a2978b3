// Progressive enhancement only: every page reads fine without this file.
(function () {
  "use strict";

  function renderMath(root) {
    if (typeof window.renderMathInElement !== "function") return;
    root.querySelectorAll(".tex").forEach(function (el) {
      window.renderMathInElement(el, {
        delimiters: [
          { left: "$$", right: "$$", display: true },
          { left: "\\[", right: "\\]", display: true },
          { left: "$", right: "$", display: false },
          { left: "\\(", right: "\\)", display: false },
        ],
        throwOnError: false,
        trust: false,
      });
    });
    document.body.classList.add("math-rendered");
  }

  // Stars: the same POST the form makes, without leaving the page.
  function setupStars() {
    document.addEventListener("submit", function (ev) {
      var form = ev.target;
      if (!form.classList || !form.classList.contains("star")) return;
      ev.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      // form.action would be the <input name="action">: read the attribute
      fetch(form.getAttribute("action"), { method: "POST", body: body, headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.error) { alert(data.error); return; }
          var on = !!data.starred;
          form.querySelector("input[name=action]").value = on ? "remove" : "add";
          var btn = form.querySelector("button");
          btn.textContent = on ? "\u2605" : "\u2606";
          btn.classList.toggle("on", on);
          btn.setAttribute("aria-pressed", on ? "true" : "false");
          btn.title = (on ? "unstar" : "star") + " this paper";
        })
        .catch(function () { form.submit(); });
    });
  }

  // In-page keyword highlight / filter (Cool Papers' bottom-bar search).
  function unmark(root) {
    root.querySelectorAll("mark.kw").forEach(function (m) {
      m.replaceWith(document.createTextNode(m.textContent));
    });
    root.normalize();
  }

  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  function markIn(el, re) {
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {
      acceptNode: function (n) {
        return n.parentElement && n.parentElement.closest(".katex, mark") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
      },
    });
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (node) {
      var text = node.nodeValue;
      re.lastIndex = 0;
      if (!re.test(text)) return;
      re.lastIndex = 0;
      var frag = document.createDocumentFragment();
      var last = 0, m;
      while ((m = re.exec(text)) !== null) {
        if (m.index > last) frag.appendChild(document.createTextNode(text.slice(last, m.index)));
        var mark = document.createElement("mark");
        mark.className = "kw";
        mark.textContent = m[0];
        frag.appendChild(mark);
        last = m.index + m[0].length;
        if (m[0].length === 0) re.lastIndex++;
      }
      if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
      node.replaceWith(frag);
    });
  }

  function setupKeywords() {
    var input = document.getElementById("kw");
    var only = document.getElementById("kw-only");
    var count = document.getElementById("kw-count");
    if (!input) return;
    // the bar filters in place; it never submits (no inline onsubmit: the CSP forbids inline script)
    if (input.form) input.form.addEventListener("submit", function (ev) { ev.preventDefault(); });
    var stored = window.localStorage ? localStorage.getItem("coolstove.kw") : null;
    if (!input.value && stored) input.value = stored;
    function apply() {
      var words = input.value.split(/[,\n]/).map(function (w) { return w.trim(); }).filter(Boolean);
      var inc = words.filter(function (w) { return w[0] !== "-"; });
      var exc = words.filter(function (w) { return w[0] === "-" && w.length > 1; }).map(function (w) { return w.slice(1).toLowerCase(); });
      var re = inc.length ? new RegExp(inc.map(escapeRe).join("|"), "gi") : null;
      var shown = 0, total = 0;
      document.querySelectorAll(".paper").forEach(function (p) {
        total++;
        var parts = p.querySelectorAll(".title-link, .authors, .summary");
        parts.forEach(unmark);
        var text = p.textContent.toLowerCase();
        var hit = !re || inc.some(function (w) { return text.indexOf(w.toLowerCase()) >= 0; });
        var out = exc.some(function (w) { return text.indexOf(w) >= 0; });
        if (re) parts.forEach(function (el) { markIn(el, re); });
        var keep = hit && !out;
        p.classList.toggle("hidden-kw", !!(only && only.checked && !keep) || (out && only && only.checked));
        if (keep) shown++;
      });
      if (count) count.textContent = words.length ? shown + " of " + total + " match" : "";
      if (window.localStorage) localStorage.setItem("coolstove.kw", input.value);
    }
    input.addEventListener("input", apply);
    if (only) only.addEventListener("change", apply);
    if (input.value) apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderMath(document);
    setupStars();
    setupKeywords();
  });
})();
