// Keeps the list of pending approvals current without a reload: the server says when the
// store changed (Server-Sent Events), the page fetches the server-rendered list and adds or
// removes cards, leaving cards the operator is typing in untouched. No data is ever inserted
// as HTML from anywhere but this server's own escaped rendering.
(function () {
  "use strict";
  function ago(seconds) {
    if (seconds < 60) return Math.max(0, Math.floor(seconds)) + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".age[data-requested]").forEach(function (el) {
      el.textContent = ago(now - parseFloat(el.getAttribute("data-requested")));
    });
  }
  function merge(html) {
    var list = document.getElementById("approvals");
    if (!list) return;
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("approvals");
    if (!fresh) return;
    var wanted = {};
    fresh.querySelectorAll("[data-approval]").forEach(function (card) { wanted[card.id] = card; });
    list.querySelectorAll("[data-approval]").forEach(function (card) {
      if (!wanted[card.id]) card.remove();
    });
    var previous = null;
    Object.keys(wanted).forEach(function (id) {
      var card = document.getElementById(id);
      if (!card) {
        card = document.importNode(wanted[id], true);
        if (previous) previous.after(card); else list.prepend(card);
      }
      previous = card;
    });
    var empty = list.querySelector(".empty");
    var hasCards = list.querySelector("[data-approval]") !== null;
    if (hasCards && empty) empty.remove();
    if (!hasCards && !empty) {
      var blank = fresh.querySelector(".empty");
      if (blank) list.appendChild(document.importNode(blank, true));
    }
    list.setAttribute("data-version", fresh.getAttribute("data-version"));
    tick();
  }
  function refresh() {
    fetch("/fragment", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { if (html) merge(html); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 10000);
    var list = document.getElementById("approvals");
    if (!list || !window.EventSource) return;
    var source = new EventSource("/events?after=" + encodeURIComponent(list.getAttribute("data-version") || "0"));
    source.addEventListener("changed", refresh);
    source.addEventListener("open", refresh);
  });
})();
