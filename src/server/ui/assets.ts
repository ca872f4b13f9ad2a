/**
 * The web view's static files, as string constants: nothing to copy into dist/ at build time.
 * Served from /ui/assets/ (the Content-Security-Policy allows scripts and styles from this
 * origin only: no inline script, no inline style).
 */

export const CSS = `:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
  --accent: #0969da; --add: #1a7f37; --del: #cf222e; --chg: #9a6700; --warn-bg: #fff8c5;
  --focus: #0969da;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --panel: #151b23;
    --accent: #4493f8; --add: #3fb950; --del: #f85149; --chg: #d29922; --warn-bg: #3b2e00;
    --focus: #4493f8;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center;
  padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 600; color: var(--fg); text-decoration: none; }
header.top .who { margin-left: auto; color: var(--muted); }
header.top form { display: inline; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, summary:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .75rem; overflow-x: auto;
  white-space: pre-wrap; word-break: break-all; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; }
td.addr { word-break: break-all; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 .4rem; border-radius: .6rem; font-size: .8em;
  border: 1px solid var(--line); }
.locked { color: var(--chg); font-weight: 600; }
.add { color: var(--add); } .del { color: var(--del); } .chg { color: var(--chg); }
.panel { border: 1px solid var(--line); background: var(--panel); padding: .75rem 1rem; margin: 1rem 0;
  border-radius: .4rem; }
.notice { border-left: 4px solid var(--add); }
.error { border-left: 4px solid var(--del); }
.warn { background: var(--warn-bg); }
form.inline { display: inline; }
button, .button { font: inherit; padding: .35rem .8rem; border-radius: .35rem; cursor: pointer;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); text-decoration: none;
  display: inline-block; }
button.danger, .button.danger { border-color: var(--del); color: var(--del); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
input[type=text], input[type=password], input[type=search] { font: inherit; padding: .35rem .5rem;
  border: 1px solid var(--line); border-radius: .35rem; background: var(--bg); color: var(--fg);
  width: 100%; max-width: 28rem; }
.filter { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin-bottom: 1rem; }
.pager { display: flex; gap: 1rem; margin: 1rem 0; }
details { margin: .5rem 0; }
summary { cursor: pointer; }
.entry { border-top: 1px solid var(--line); padding: .5rem 0; }
.entry h3 { font-size: 1rem; margin: .25rem 0; word-break: break-all; }
ul.plain { list-style: none; padding-left: 0; }
.login { max-width: 26rem; margin: 3rem auto; }
.login label { display: block; margin-bottom: .3rem; }
.login input { margin-bottom: .8rem; }
@media (max-width: 40rem) {
  main { padding: .6rem; }
  th, td { padding: .3rem .35rem; }
  .hide-narrow { display: none; }
}
`;

/**
 * Progressive enhancement only: every page works without it. Filters the stacks table as one
 * types, and fills in the entry counts the stacks page showed as pending (td[data-r]) from
 * /ui/counts, asking again for those still being counted.
 */
export const JS = `"use strict";
(function () {
  var input = document.getElementById("filter");
  var table = document.getElementById("stacks");
  if (!input || !table) return;
  var rows = table.querySelectorAll("tbody tr[data-name]");
  var count = document.getElementById("shown");
  function apply() {
    var q = input.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var hit = q === "" || row.getAttribute("data-name").toLowerCase().indexOf(q) !== -1;
      row.hidden = !hit;
      if (hit) shown++;
    });
    if (count) count.textContent = String(shown);
  }
  input.addEventListener("input", apply);
})();
(function () {
  var BATCH = 100;
  function pending() {
    return Array.prototype.slice.call(document.querySelectorAll("#stacks td[data-r]"));
  }
  function ask(cells, rounds) {
    if (cells.length === 0 || rounds <= 0) return;
    var q = new URLSearchParams();
    cells.forEach(function (td) {
      q.append("f", td.getAttribute("data-f"));
      q.append("s", td.getAttribute("data-s"));
      q.append("r", td.getAttribute("data-r"));
    });
    fetch("/ui/counts?" + q.toString(), { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (body) {
        if (!body || !Array.isArray(body.counts)) return;
        var again = [];
        cells.forEach(function (td, i) {
          var c = body.counts[i];
          if (c === null || c === undefined) { again.push(td); return; }
          td.removeAttribute("data-r");
          td.textContent = "";
          if (typeof c.entries === "number") td.textContent = String(c.entries);
          else {
            var span = document.createElement("span");
            span.className = "del";
            span.title = String(c.problem);
            span.textContent = "?";
            td.appendChild(span);
          }
        });
        ask(again, rounds - 1);
      })
      .catch(function () {});
  }
  var cells = pending();
  for (var i = 0; i < cells.length; i += BATCH) ask(cells.slice(i, i + BATCH), 30);
})();
`;
