"use strict";
(function () {
  // Sorting: a click on a heading sorts its table by that column, by
  // data-v when the cells carry it, else by their text.
  function sortTable(table, col, th) {
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var num = th.getAttribute("data-sort") === "num";
    var dir = th.classList.contains("asc") ? -1 : 1;
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(dir === 1 ? "asc" : "desc");
    function key(r) {
      var c = r.cells[col];
      var v = c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent.trim();
      return num ? parseFloat(v) : v.toLowerCase();
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (num) { if (isNaN(x)) x = -Infinity; if (isNaN(y)) y = -Infinity; }
      return x < y ? -dir : x > y ? dir : 0;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    return dir;
  }
  var state = { f: "", s: "", p: [] };
  function saveState() {
    var parts = [];
    if (state.f) parts.push("f=" + encodeURIComponent(state.f));
    if (state.s) parts.push("s=" + state.s);
    if (state.p.length) parts.push("p=" + state.p.join(","));
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (!th.hasAttribute("data-sort")) return;
      th.addEventListener("click", function () {
        var dir = sortTable(table, i, th);
        if (table.id === "bss-table") { state.s = i + (dir === 1 ? "a" : "d"); saveState(); }
      });
    });
  });

  var table = document.getElementById("bss-table");
  var filter = document.getElementById("bss-filter");
  var shown = document.getElementById("bss-shown");
  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    var n = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
      r.hidden = !hit;
      if (hit) n++;
    });
    shown.textContent = String(n);
    state.f = filter.value;
  }
  if (table && filter) {
    filter.addEventListener("input", function () { applyFilter(); saveState(); });
  }
  function pick(id, on) {
    var fig = document.getElementById("chart-" + id);
    if (fig) fig.hidden = !on;
    var i = state.p.indexOf(id);
    if (on && i < 0) state.p.push(id);
    if (!on && i >= 0) state.p.splice(i, 1);
  }
  if (table) {
    table.addEventListener("change", function (e) {
      var t = e.target;
      if (t && t.classList && t.classList.contains("pick")) { pick(t.value, t.checked); saveState(); }
    });
  }

  // Restore what the reader had (a reload of the live page keeps it).
  var h = location.hash.replace(/^#/, "");
  h.split("&").forEach(function (kv) {
    var k = kv.split("=")[0], v = decodeURIComponent(kv.slice(k.length + 1));
    if (k === "f" && filter) { filter.value = v; applyFilter(); }
    if (k === "s" && table) {
      var m = /^(\d+)([ad])$/.exec(v);
      var th = m && table.tHead.rows[0].cells[+m[1]];
      if (th && th.hasAttribute("data-sort")) { sortTable(table, +m[1], th); if (m[2] === "d") sortTable(table, +m[1], th); state.s = v; }
    }
    if (k === "p" && table) {
      v.split(",").forEach(function (id) {
        var box = table.querySelector('input.pick[value="' + id.replace(/[^a-z0-9]/g, "") + '"]');
        if (box) { box.checked = true; pick(box.value, true); }
      });
    }
  });

  // Print everything: open the details.
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });

  // Live pages (surveyctl serve) reload when new data has arrived.
  var poll = document.body.getAttribute("data-poll");
  if (poll) {
    var stamp = document.body.getAttribute("data-stamp");
    setInterval(function () {
      fetch(poll, { cache: "no-store", credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (t) {
        if (t !== null && t.trim() !== stamp) location.reload();
      }).catch(function () {});
    }, 10000);
  }
})();
