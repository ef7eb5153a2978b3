// Progressive enhancement only: every page reads fine without this file.
(function () {
  "use strict";

  // ---------------------------------------------------------------- maths
  // Abstracts are their authors' TeX as arXiv keeps it: macros of their own (\Q, \rsun), a $ that
  // closes nothing, formulas wider than a phone. What KaTeX knows it renders; an undefined macro shows
  // as its own source in the text's colour; a $ that pairs with nothing stays a $; a formula wider
  // than its line scrolls in a box of its own, and nothing else moves.
  var DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "$", right: "$", display: false },
    { left: "\\(", right: "\\)", display: false },
  ];
  var LITERAL = "tex-literal"; // a $ shown as a $ (auto-render leaves these alone)
  var macros = {}; // "\rsun" -> "\rsun" as text; one table for the whole page
  var tried = {}; // control sequences already looked up

  // Each control sequence KaTeX does not define becomes a macro that prints its own name.
  function defineUnknown(text) {
    var re = /\\([A-Za-z]+)/g, m;
    while ((m = re.exec(text)) !== null) {
      var name = "\\" + m[1];
      if (Object.prototype.hasOwnProperty.call(tried, name)) continue;
      tried[name] = true;
      try {
        window.katex.renderToString(name, { throwOnError: true, macros: {} });
      } catch (e) {
        if (e instanceof window.katex.ParseError && /Undefined control sequence/.test(e.message)) {
          macros[name] = "{\\text{\\textbackslash " + m[1] + "}}";
        }
      }
    }
  }

  // How much a would-be formula reads like prose: words of three letters or more not after a backslash.
  function prose(math) {
    var words = math.match(/(^|[\s(])[A-Za-z]{3,}(?=[\s,.;:)]|$)/g) || [];
    return words.length + (/^\s|\s$/.test(math) ? 1 : 0);
  }

  // Where a text's $ must be shown as a $: an escaped \$ outside maths, and, when the single $ are
  // odd in number, the one without which the others pair into the least prose-like formulas (only
  // one outside every formula is a candidate: an even number of $ before it).
  function literalDollars(text) {
    var singles = [], escaped = [], i;
    for (i = 0; i < text.length; i++) {
      var c = text.charAt(i);
      if (c === "\\") {
        if (text.charAt(i + 1) === "$") escaped.push(i);
        i++;
      } else if (c === "$") {
        if (text.charAt(i + 1) === "$") i++;
        else singles.push(i);
      }
    }
    var cuts = [];
    if (singles.length % 2 === 1) {
      var best = -1, bestScore = Infinity;
      for (var k = 0; k < singles.length; k += 2) {
        var rest = singles.slice(0, k).concat(singles.slice(k + 1)), score = 0;
        for (var p = 0; p + 1 < rest.length; p += 2) score += prose(text.slice(rest[p] + 1, rest[p + 1]));
        if (score < bestScore) { best = k; bestScore = score; }
      }
      cuts.push({ at: singles[best], length: 1 });
      singles.splice(best, 1);
    }
    escaped.forEach(function (at) {
      var before = singles.filter(function (s) { return s < at; }).length;
      if (before % 2 === 0) cuts.push({ at: at, length: 2 });
    });
    return cuts.sort(function (x, y) { return x.at - y.at; });
  }

  function markLiteralDollars(el) {
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {
      acceptNode: function (n) {
        return n.parentElement.closest(".katex, ." + LITERAL) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
      },
    });
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (node) {
      var text = node.nodeValue, cuts = literalDollars(text);
      if (!cuts.length) return;
      var frag = document.createDocumentFragment(), last = 0;
      cuts.forEach(function (cut) {
        if (cut.at > last) frag.appendChild(document.createTextNode(text.slice(last, cut.at)));
        var span = document.createElement("span");
        span.className = LITERAL;
        span.textContent = "$";
        frag.appendChild(span);
        last = cut.at + cut.length;
      });
      if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
      node.replaceWith(frag);
    });
  }

  // The block a formula's line belongs to (a title link is inline: its heading).
  function lineBox(el) {
    var box = el;
    while (box.parentElement && getComputedStyle(box).display === "inline") box = box.parentElement;
    return box;
  }

  // Put each inline formula that sticks out of its line into a scroll box (display maths scroll by CSS).
  function containWide(el) {
    var box = lineBox(el), rect = box.getBoundingClientRect();
    var left = rect.left + box.clientLeft, right = left + box.clientWidth;
    var wide = [];
    el.querySelectorAll(".katex").forEach(function (k) {
      if (k.parentElement.closest(".katex, .katex-display, .math-wide")) return;
      var pieces = k.querySelectorAll(".katex-html > .katex-base, .katex-html > .base");
      for (var i = 0; i < pieces.length; i++) {
        var r = pieces[i].getBoundingClientRect();
        if (r.right > right + 0.5 || r.left < left - 0.5) { wide.push(k); return; }
      }
    });
    wide.forEach(function (k) {
      var scroller = document.createElement("span");
      scroller.className = "math-wide";
      k.parentNode.insertBefore(scroller, k);
      scroller.appendChild(k);
    });
  }

  // After a resize a boxed formula may fit again, or another may not: box them afresh.
  function containAll(afresh) {
    if (afresh) {
      document.querySelectorAll(".math-wide").forEach(function (box) { box.replaceWith.apply(box, box.childNodes); });
    }
    document.querySelectorAll(".tex").forEach(containWide);
  }

  var resizing = false;

  function renderMath(root) {
    var done = function () { document.body.classList.add("math-rendered"); };
    if (typeof window.renderMathInElement !== "function" || !window.katex) { done(); return; }
    var elements = root.querySelectorAll(".tex");
    elements.forEach(function (el) { defineUnknown(el.textContent); });
    elements.forEach(function (el) {
      markLiteralDollars(el);
      try {
        window.renderMathInElement(el, {
          delimiters: DELIMITERS,
          ignoredClasses: [LITERAL],
          macros: Object.assign({}, macros), // an abstract's \gdef stays in that abstract
          // what KaTeX still cannot parse stays its plain source, delimiters and all, not red
          throwOnError: true,
          errorCallback: function () {},
          trust: false,
        });
      } catch (e) {
        // a KaTeX bug on one abstract leaves that abstract as text, not the page
      }
    });
    containAll(); // measuring lays the page out, which asks for KaTeX's fonts ...
    var fonts = document.fonts;
    if (fonts && fonts.ready) {
      fonts.ready.then(function () { containAll(); done(); }, done); // ... and their widths count
    } else {
      done();
    }
    if (resizing) return; // one resize listener, however many times papers are added
    resizing = true;
    var pending = false;
    window.addEventListener("resize", function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () { pending = false; containAll(true); });
    });
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

  // Lower case without accents ("Müller" -> "muller"), and where each folded character came from.
  function fold(text) {
    if (!/[^\x00-\x7f]/.test(text)) return { text: text.toLowerCase(), from: null }; // most text: as is
    var out = "", from = [];
    for (var i = 0; i < text.length; i++) {
      var f = text.charAt(i).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
      for (var k = 0; k < f.length; k++) { out += f.charAt(k); from.push(i); }
    }
    from.push(text.length);
    return { text: out, from: from };
  }

  function markIn(el, re) {
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {
      acceptNode: function (n) {
        return n.parentElement && n.parentElement.closest(".katex, mark") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
      },
    });
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (node) {
      var text = node.nodeValue, folded = fold(text);
      re.lastIndex = 0;
      if (!re.test(folded.text)) return;
      re.lastIndex = 0;
      var frag = document.createDocumentFragment();
      var last = 0, m;
      while ((m = re.exec(folded.text)) !== null) {
        if (m[0].length === 0) { re.lastIndex++; continue; }
        var at = folded.from, start = at ? at[m.index] : m.index, end = at ? at[m.index + m[0].length] : m.index + m[0].length;
        if (start < last) continue;
        if (start > last) frag.appendChild(document.createTextNode(text.slice(last, start)));
        var mark = document.createElement("mark");
        mark.className = "kw";
        mark.textContent = text.slice(start, end);
        frag.appendChild(mark);
        last = end;
      }
      if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
      node.replaceWith(frag);
    });
  }

  var applyKeywords = null; // the keyword bar's filter, run again over papers lazylist.js appends

  function setupKeywords() {
    var input = document.getElementById("kw");
    var only = document.getElementById("kw-only");
    var count = document.getElementById("kw-count");
    if (!input) return;
    // the bar filters in place; it never submits (no inline onsubmit: the CSP forbids inline script)
    if (input.form) input.form.addEventListener("submit", function (ev) { ev.preventDefault(); });
    var stored = window.localStorage ? localStorage.getItem("coolstove.kw") : null;
    if (!input.value && stored) input.value = stored;
    var mode = document.getElementById("kw-mode");
    var storedMode = window.localStorage ? localStorage.getItem("coolstove.kw-mode") : null;
    if (mode && storedMode) mode.value = storedMode;
    function apply() {
      var words = input.value.split(/[,\n]/).map(function (w) { return fold(w.trim()).text; }).filter(Boolean);
      var inc = words.filter(function (w) { return w[0] !== "-"; });
      var exc = words.filter(function (w) { return w[0] === "-" && w.length > 1; }).map(function (w) { return w.slice(1); });
      var re = inc.length ? new RegExp(inc.map(escapeRe).join("|"), "g") : null;
      var all = mode && mode.value === "and";
      var shown = 0, total = 0;
      document.querySelectorAll(".paper").forEach(function (p) {
        total++;
        var parts = p.querySelectorAll(".title-link, .authors, .summary");
        parts.forEach(unmark);
        var text = "";
        parts.forEach(function (el) { text += " " + fold(el.textContent).text; });
        var has = function (w) { return text.indexOf(w) >= 0; };
        var hit = !re || (all ? inc.every(has) : inc.some(has));
        var out = exc.some(has);
        if (re) parts.forEach(function (el) { markIn(el, re); });
        var keep = hit && !out;
        p.classList.toggle("hidden-kw", !!(only && only.checked && !keep) || (out && only && only.checked));
        if (keep) shown++;
      });
      if (count) count.textContent = words.length ? shown + " of " + total + " match" : "";
      if (window.localStorage) {
        localStorage.setItem("coolstove.kw", input.value);
        if (mode) localStorage.setItem("coolstove.kw-mode", mode.value);
      }
    }
    applyKeywords = apply;
    input.addEventListener("input", apply);
    if (only) only.addEventListener("change", apply);
    if (mode) mode.addEventListener("change", apply);
    if (input.value) apply();
  }

  // [Copy]: title, authors, abstract and link to the clipboard. The page's selection is left as it
  // was (Cool Papers' copy button reset it, so Ctrl-F lost its place): the Clipboard API does not touch
  // it, and where that API is missing (plain http on a LAN address) the fallback restores it.
  function paperText(p) {
    var title = p.querySelector(".title-link, h1.title"), authors = p.querySelector(".authors"), summary = p.querySelector(".summary");
    var names = authors ? Array.prototype.map.call(authors.querySelectorAll("a.author"), function (a) { return a.textContent.trim(); }) : [];
    var clean = function (el) { return el ? (el.getAttribute("data-source") || el.textContent).replace(/\s+/g, " ").trim() : ""; };
    return [clean(title), names.join(", "), clean(summary), "https://arxiv.org/abs/" + p.getAttribute("data-id")].filter(Boolean).join("\n");
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var sel = document.getSelection(), ranges = [];
    for (var i = 0; i < sel.rangeCount; i++) ranges.push(sel.getRangeAt(i));
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    sel.removeAllRanges();
    ranges.forEach(function (r) { sel.addRange(r); });
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function addCopy(papers) {
    // the TeX as written, before KaTeX turns it into markup whose text repeats every formula
    papers.forEach(function (p) {
      p.querySelectorAll(".title-link, h1.title, .summary").forEach(function (el) { el.setAttribute("data-source", el.textContent); });
    });
    papers.forEach(function (p) {
      var actions = p.querySelector(".actions");
      if (!actions) return;
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "copy";
      btn.textContent = "Copy";
      btn.title = "copy title, authors, abstract and link";
      actions.appendChild(btn);
    });
  }

  function setupCopy() {
    addCopy(Array.prototype.slice.call(document.querySelectorAll(".paper[data-id]")));
    document.addEventListener("click", function (ev) {
      var btn = ev.target.closest && ev.target.closest("button.copy");
      if (!btn) return;
      ev.preventDefault();
      copyText(paperText(btn.closest(".paper"))).then(
        function () { btn.textContent = "Copied"; setTimeout(function () { btn.textContent = "Copy"; }, 1500); },
        function () { btn.textContent = "Copy failed"; }
      );
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupCopy();
    renderMath(document);
    setupStars();
    setupKeywords();
  });

  // Papers appended by lazylist.js: [Copy], maths, and the keyword filter as for the first ones.
  document.addEventListener("papers:added", function (ev) {
    var papers = (ev.detail && ev.detail.papers) || [];
    addCopy(papers);
    papers.forEach(function (p) { renderMath(p); });
    if (applyKeywords) applyKeywords();
  });
})();
