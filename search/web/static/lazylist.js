// Lazy loading of long lists: when the reader nears the end of a page of papers, the next page (the
// nav.list-pages "next" link, the same page a reader without JavaScript opens) is fetched and its papers
// appended to the same sections. papers.js then renders their maths, adds [Copy] and reapplies the
// keyword filter (the "papers:added" event); stars and [PDF] work through listeners on the document.
(function () {
  "use strict";

  function sectionKey(section) { return section.id || section.getAttribute("data-section") || ""; }

  function lastSection(key) {
    var found = null;
    document.querySelectorAll("main section.papers").forEach(function (s) { if (sectionKey(s) === key) found = s; });
    return found;
  }

  function setup() {
    var nav = document.querySelector("nav.list-pages");
    if (!nav || !("IntersectionObserver" in window) || !window.DOMParser) return;
    var loading = false;

    function append(html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var added = [];
      doc.querySelectorAll("main section.papers").forEach(function (incoming) {
        var key = sectionKey(incoming), into = lastSection(key);
        var papers = Array.prototype.slice.call(incoming.querySelectorAll(":scope > .paper"));
        if (into) {
          papers.forEach(function (p) { into.appendChild(document.adoptNode(p)); });
        } else { // a section that begins on this page: its heading and id come with it
          into = document.adoptNode(incoming);
          nav.parentNode.insertBefore(into, nav);
        }
        added = added.concat(papers);
      });
      var next = doc.querySelector("nav.list-pages");
      var more = next && next.querySelector("a.more");
      var mine = nav.querySelector("a.more");
      var range = nav.querySelector(".range"), theirs = next && next.querySelector(".range");
      if (range && theirs) range.textContent = range.textContent.split("–")[0] + "–" + theirs.textContent.split("–")[1];
      if (more && mine) mine.replaceWith(document.adoptNode(more));
      else if (mine) mine.remove();
      document.dispatchEvent(new CustomEvent("papers:added", { detail: { papers: added } }));
      return !!more;
    }

    function loadNext() {
      var link = nav.querySelector("a.more");
      if (!link || loading) return;
      loading = true;
      nav.classList.add("loading");
      fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        })
        .then(function (html) {
          loading = false;
          nav.classList.remove("loading");
          if (!append(html)) observer.disconnect();
          else { observer.unobserve(nav); observer.observe(nav); } // still in view: load on
        })
        .catch(function () { loading = false; nav.classList.remove("loading"); observer.disconnect(); }); // the link still works
    }

    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) loadNext(); });
    }, { rootMargin: "0px 0px 600px 0px" });
    observer.observe(nav);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
