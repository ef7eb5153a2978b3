// [PDF] previews under the paper (PDF.js, vendored in ./pdfjs) and click counts. Progressive enhancement:
// without this file [PDF] is a link to /go/pdf/<id>, which counts the click and redirects to arXiv.
// The PDF comes straight from arXiv (the link's data-pdf) to the reader's browser: never via the daemon.
(function () {
  "use strict";

  var HERE = document.currentScript ? document.currentScript.src : "";
  var PDFJS = new URL("pdfjs/pdf.min.mjs", HERE).href;
  var WORKER = new URL("pdfjs/pdf.worker.min.mjs", HERE).href;
  // PDF.js's data files, served beside it (absolute URLs: the worker fetches them itself)
  var DATA = {
    cMapUrl: new URL("pdfjs/cmaps/", HERE).href, // CJK text in fonts the PDF does not embed
    cMapPacked: true,
    standardFontDataUrl: new URL("pdfjs/standard_fonts/", HERE).href,
    // JPEG 2000 and JBIG2 decoders: their JavaScript builds, as the CSP allows no WebAssembly compilation
    useWasm: false,
    wasmUrl: new URL("pdfjs/wasm/", HERE).href,
    iccUrl: new URL("pdfjs/iccs/", HERE).href
  };
  var PAGES_AT_ONCE = 3; // pages rendered per step ("more pages" renders the next ones)
  var lib = null; // the PDF.js module, imported on the first preview

  function loadLib() {
    if (!lib) {
      lib = import(PDFJS).then(function (m) {
        m.GlobalWorkerOptions.workerSrc = WORKER;
        return m;
      });
    }
    return lib;
  }

  // ------------------------------------------------------------ click counts
  // POST /go/<kind>/<id> (same origin; the server refuses cross-site posts) and show the new count.
  function count(paper, kind) {
    var id = paper.getAttribute("data-id");
    if (!id) return;
    fetch("/go/" + kind + "/" + id, { method: "POST", credentials: "same-origin", keepalive: true, headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || typeof data.count !== "number") return;
        paper.querySelectorAll('.click-count[data-kind="' + kind + '"]').forEach(function (el) { el.textContent = String(data.count); });
      })
      .catch(function () {});
  }

  // ------------------------------------------------------------ the preview pane
  function button(text, cls, title) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = text;
    if (title) b.title = title;
    return b;
  }

  function openPanes() { return document.querySelectorAll(".pdf-pane:not([hidden])"); }

  var allButton = null; // "Collapse all", shown while any pane is open
  function updateAll() {
    if (!allButton) {
      allButton = button("Collapse all PDFs", "pdf-collapse-all");
      allButton.hidden = true;
      allButton.addEventListener("click", function () {
        openPanes().forEach(function (pane) { collapse(pane); });
      });
      document.body.appendChild(allButton);
    }
    allButton.hidden = openPanes().length === 0;
  }

  function collapse(pane) {
    pane.hidden = true;
    var link = pane.closest(".paper").querySelector("a.title-pdf");
    if (link) link.setAttribute("aria-expanded", "false");
    updateAll();
  }

  function renderPages(pane, doc, upto) {
    var box = pane.querySelector(".pdf-pages");
    var more = pane.querySelector(".pdf-more");
    var done = box.childElementCount;
    var last = Math.min(doc.numPages, upto);
    var chain = Promise.resolve();
    for (var n = done + 1; n <= last; n++) {
      (function (n) {
        chain = chain.then(function () {
          return doc.getPage(n).then(function (page) {
            var width = box.clientWidth || pane.clientWidth || 300;
            var ratio = window.devicePixelRatio || 1;
            var base = page.getViewport({ scale: 1 });
            var viewport = page.getViewport({ scale: (width / base.width) * ratio });
            var canvas = document.createElement("canvas");
            canvas.className = "pdf-page";
            canvas.width = Math.floor(viewport.width);
            canvas.height = Math.floor(viewport.height);
            canvas.setAttribute("aria-label", "page " + n);
            box.appendChild(canvas);
            return page.render({ canvas: canvas, canvasContext: canvas.getContext("2d"), viewport: viewport }).promise;
          });
        });
      })(n);
    }
    return chain.then(function () {
      pane.querySelector(".pdf-status").textContent = last + " of " + doc.numPages + " page" + (doc.numPages === 1 ? "" : "s");
      more.hidden = last >= doc.numPages;
      pane.setAttribute("data-rendered", String(last));
    });
  }

  function open(paper, link) {
    var pane = paper.querySelector(".pdf-pane");
    if (pane) {
      if (pane.hidden) { pane.hidden = false; link.setAttribute("aria-expanded", "true"); updateAll(); return true; }
      collapse(pane);
      return false;
    }
    var url = link.getAttribute("data-pdf");
    pane = document.createElement("div");
    pane.className = "pdf-pane";
    var bar = document.createElement("div");
    bar.className = "pdf-bar";
    var close = button("Collapse", "pdf-collapse", "hide this PDF");
    close.addEventListener("click", function () { collapse(pane); link.focus(); });
    var status = document.createElement("span");
    status.className = "pdf-status";
    status.textContent = "Loading the PDF from " + new URL(url).host + "…";
    var direct = document.createElement("a");
    direct.href = url;
    direct.rel = "noopener noreferrer";
    direct.textContent = "open the PDF";
    bar.append(close, status, direct);
    var pagesBox = document.createElement("div");
    pagesBox.className = "pdf-pages";
    var more = button("More pages", "pdf-more");
    more.hidden = true;
    pane.append(bar, pagesBox, more);
    paper.appendChild(pane);
    link.setAttribute("aria-expanded", "true");
    updateAll();
    loadLib()
      .then(function (pdfjs) {
        // no eval (the CSP forbids it), no credentials to arXiv, no fonts fetched from elsewhere
        var opts = { url: url, isEvalSupported: false, withCredentials: false, enableXfa: false, useSystemFonts: true };
        Object.keys(DATA).forEach(function (k) { opts[k] = DATA[k]; });
        return pdfjs.getDocument(opts).promise;
      })
      .then(function (doc) {
        more.addEventListener("click", function () {
          more.disabled = true;
          renderPages(pane, doc, pane.querySelector(".pdf-pages").childElementCount + PAGES_AT_ONCE).then(function () { more.disabled = false; });
        });
        return renderPages(pane, doc, PAGES_AT_ONCE);
      })
      .catch(function (e) {
        pane.classList.add("pdf-failed");
        status.textContent = "The PDF could not be shown here (" + ((e && e.message) || e) + "): ";
      });
    return true;
  }

  // One listener for every paper on the page, appended ones too (lazylist.js). Capture phase: a counted
  // link whose own script stops the click (faq.js) is still counted.
  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest(".paper[data-id] [data-click]");
    if (!link) return;
    var paper = link.closest(".paper[data-id]");
    var kind = link.getAttribute("data-click");
    if (kind !== "pdf" && kind !== "faq") return;
    var plain = ev.button === 0 && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && !ev.altKey;
    if (kind === "pdf" && plain && link.hasAttribute("data-pdf")) {
      ev.preventDefault();
      if (open(paper, link)) count(paper, "pdf"); // opening counts; collapsing does not
      return;
    }
    var href = link.getAttribute("href") || "";
    if (href.indexOf("/go/") === 0) return; // followed: the server counts it as it redirects
    if (paper.querySelector("." + kind + "-pane:not([hidden])")) return; // this click closes its pane
    count(paper, kind);
  }, true);
})();
