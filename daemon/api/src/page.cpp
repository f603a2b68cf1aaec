// GET /: the status page. Self-contained (no external assets). It carries no data: the
// script reads the API token from the URL fragment (#token=..., never sent to the server)
// or asks for it once, keeps it in sessionStorage, and polls /v1/status with it. It is also
// where the user settles things (SPEC U2): conflicts side by side with keep buttons, held
// deletions, item errors, and a search of tracked items to untrack. Every action is a POST
// with the bearer header (never a cookie: no cross-site request can carry it).
#include "crmsync/api/route.hpp"

namespace crmsync::api {

const std::string& status_page_html() {
  static const std::string kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crmsync</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}td.text{text-align:left}.muted{color:#777}
#error,.refused{color:#b00}button{font-size:.95em;padding:.2em .7em;margin:0 .1em}
</style></head>
<body>
<h1>crmsync <span id="profile" class="muted"></span></h1>
<form id="login" hidden><label>API token (from http.token_file):
<input id="token-input" type="password" size="40"></label> <button>Use</button></form>
<p id="error"></p>
<p>State: <b id="state">loading</b> &middot; role <span id="role"></span>
&middot; client <span id="client"></span> &middot; next sync <span id="next">-</span></p>
<p>Last cycle: <span id="last-result">none yet</span>
<span id="last-finished" class="muted"></span></p>
<p id="progress" class="muted"></p>
<p><button id="sync-now" type="button">Sync now</button> <span id="sync-msg" class="muted"></span></p>
<table id="counts"><thead><tr><th>kind</th><th>mapped</th><th>pending</th><th>errors</th>
<th>conflicts</th></tr></thead><tbody></tbody></table>
<p id="needs-login" hidden><b>Sign-in needed</b> for <span id="needs-login-sides"></span>:
run <code>crmsync login</code>; nothing queued is lost.</p>
<p id="notices"></p>
<p id="action-msg" class="muted"></p>
<h2>Conflicts</h2>
<p class="muted">Both sides changed a field; the sync kept the newer value. Keep the other
side's instead, or keep what was merged.</p>
<table id="conflicts"><thead><tr><th>field</th><th>kind</th><th>base</th><th>CRM</th>
<th>mailbox</th><th>kept</th><th>keep</th></tr></thead><tbody></tbody></table>
<h2>Held deletions</h2>
<p class="muted">More deletions than the mass-delete guard allows: confirm them, or reject
them (both sides stay, unlinked).</p>
<p><button id="confirm-all" type="button">Confirm all</button>
<button id="reject-all" type="button">Reject all</button></p>
<table id="deletions"><thead><tr><th>kind</th><th>deletes in</th><th>because</th>
<th>CRM id</th><th></th></tr></thead><tbody></tbody></table>
<h2>Item errors</h2>
<table id="errors"><thead><tr><th>kind</th><th>error</th><th>attempts</th><th></th></tr>
</thead><tbody></tbody></table>
<h2>Tracked items</h2>
<form id="search"><input id="search-text" size="30" placeholder="name, subject or address">
<button>Search</button></form>
<table id="items"><thead><tr><th>item</th><th>kind</th><th>CRM id</th><th></th></tr></thead>
<tbody></tbody></table>
<script>
"use strict";
const key = "crmsync-token";
const m = /[#&]token=([0-9a-fA-F]+)/.exec(location.hash);
if (m) { sessionStorage.setItem(key, m[1]); history.replaceState(null, "", location.pathname); }
const $ = id => document.getElementById(id);
function token() { return sessionStorage.getItem(key); }
function askToken() { $("login").hidden = false; }
$("login").addEventListener("submit", e => {
  e.preventDefault(); sessionStorage.setItem(key, $("token-input").value.trim());
  $("login").hidden = true; refresh();
});
async function api(path, opts) {
  const t = token();
  if (!t) { askToken(); throw new Error("API token needed"); }
  const headers = {"Authorization": "Bearer " + t};
  if (opts && opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, Object.assign({}, opts || {}, {headers: headers}));
  if (r.status === 401) { sessionStorage.removeItem(key); askToken(); throw new Error("wrong token"); }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || path + ": HTTP " + r.status);
  return body;
}
function post(path, body) { return api(path, {method: "POST", body: JSON.stringify(body)}); }
function cell(tr, text, cls) {
  const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td); return td;
}
function button(td, label, action) {
  const b = document.createElement("button"); b.type = "button"; b.textContent = label;
  b.addEventListener("click", () => act(action)); td.appendChild(b); return b;
}
// One decision: its answer (or why it was refused) in #action-msg, then the lists again.
async function act(action) {
  const msg = $("action-msg");
  msg.className = "muted"; msg.textContent = "working...";
  try { msg.textContent = await action(); }
  catch (e) { msg.className = "refused"; msg.textContent = e.message; }
  await refresh();
}
function rows(id) { const b = $(id).tBodies[0]; b.textContent = ""; return b; }
function conflicts(list) {
  const body = rows("conflicts");
  for (const c of list) {
    const tr = document.createElement("tr"); tr.id = "conflict-" + c.id;
    cell(tr, c.field); cell(tr, c.entity, "text");
    cell(tr, c.base_value === null ? "?" : c.base_value, "text base");
    cell(tr, c.crm_value, "text crm"); cell(tr, c.store_value, "text mailbox");
    cell(tr, c.winner === "crm" ? "CRM" : "mailbox", "text");
    const td = cell(tr, "");
    for (const [keep, label] of [["crm", "CRM"], ["mailbox", "mailbox"], ["merged", "merged"]])
      button(td, label, async () => {
        const r = await post("/v1/conflicts/resolve", {id: c.id, keep: keep});
        return "conflict " + c.id + " (" + r.field + "): kept " + keep +
               (r.written ? "; CRM follows at the next sync" : "");
      }).dataset.keep = keep;
    body.appendChild(tr);
  }
}
function cycleText(r) {
  const c = r.cycle;
  return "cycle " + c.result + ": " + c.deleted_in_crm + " deleted in CRM, " +
         c.deleted_in_store + " in the mailbox";
}
function deletions(list) {
  const body = rows("deletions");
  for (const d of list) {
    const tr = document.createElement("tr"); tr.id = "deletion-" + d.id;
    cell(tr, d.entity); cell(tr, d.side, "text"); cell(tr, d.change, "text");
    cell(tr, d.crm_id, "text");
    const td = cell(tr, "");
    button(td, "Confirm", async () => "confirmed " + d.id + ": " +
        cycleText(await post("/v1/deletions/confirm", {ids: [d.id]}))).dataset.act = "confirm";
    button(td, "Reject", async () => {
      await post("/v1/deletions/reject", {ids: [d.id]});
      return "rejected " + d.id + ": both sides stay";
    }).dataset.act = "reject";
    body.appendChild(tr);
  }
  $("confirm-all").disabled = $("reject-all").disabled = list.length === 0;
}
function errors(list) {
  const body = rows("errors");
  for (const e of list) {
    const tr = document.createElement("tr"); tr.id = "error-" + e.id;
    cell(tr, e.entity); cell(tr, e.error, "text"); cell(tr, String(e.attempts));
    const td = cell(tr, "");
    button(td, "Retry", async () => {
      const r = await post("/v1/errors/retry", {id: e.id});
      return "retried " + e.id + ": " + (r.cycle ? r.cycle.result : "at the next sync");
    }).dataset.act = "retry";
    button(td, "Ignore", async () => {
      await post("/v1/errors/ignore", {id: e.id});
      return "ignored " + e.id;
    }).dataset.act = "ignore";
    body.appendChild(tr);
  }
}
async function searchItems() {
  const q = new URLSearchParams({tracked: "true", limit: "50"});
  const text = $("search-text").value.trim();
  if (text) q.set("search", text);
  const list = await api("/v1/items?" + q.toString());
  const body = rows("items");
  for (const it of list) {
    const tr = document.createElement("tr"); tr.id = "item-" + it.entry_id;
    cell(tr, it.summary || it.entry_id, "text"); cell(tr, it.kind, "text");
    cell(tr, it.crm_id || "-", "text");
    const td = cell(tr, "");
    for (const [del, label] of [[false, "Untrack"], [true, "Untrack and delete in CRM"]])
      button(td, label, async () => {
        const r = await post("/v1/items/untrack", {entry_id: it.entry_id, delete_in_crm: del});
        return "untracked " + (it.summary || it.entry_id) + " (" + r.timing + ")";
      }).dataset.act = del ? "untrack-delete" : "untrack";
    body.appendChild(tr);
  }
  return list.length + " tracked item(s)";
}
$("search").addEventListener("submit", e => { e.preventDefault(); act(searchItems); });
$("confirm-all").addEventListener("click", () => act(async () =>
    "confirmed all: " + cycleText(await post("/v1/deletions/confirm", {}))));
$("reject-all").addEventListener("click", () => act(async () => {
  const r = await post("/v1/deletions/reject", {});
  return "rejected " + r.rejected.length + ": both sides stay";
}));
async function refresh() {
  try {
    const s = await api("/v1/status");
    $("error").textContent = "";
    $("profile").textContent = s.profile;
    $("state").textContent = s.state;
    $("role").textContent = s.role;
    $("client").textContent = s.client_id;
    $("next").textContent = s.next_sync || "off";
    const lc = s.last_cycle;
    $("last-result").textContent = lc && lc.result ? lc.result + " (to CRM " + lc.to_crm + ", to store " + lc.to_store + ")" : "none yet";
    $("last-finished").textContent = lc && lc.finished ? "finished " + lc.finished : "";
    $("progress").textContent = s.step ? "step " + s.step + " " + s.progress.done + "/" + s.progress.total : "";
    const body = $("counts").tBodies[0];
    body.textContent = "";
    for (const [kind, c] of Object.entries(s.counts)) {
      const tr = document.createElement("tr");
      tr.id = "count-" + kind;
      cell(tr, kind);
      for (const f of ["mapped", "pending", "errors", "conflicts"]) cell(tr, String(c[f])).className = f;
      body.appendChild(tr);
    }
    $("notices").textContent = (s.notices || []).join(" ");
    const login = s.needs_login || [];
    $("needs-login").hidden = login.length === 0;
    $("needs-login-sides").textContent = login.join(", ");
    const [c, d, e] = await Promise.all(
        ["/v1/conflicts", "/v1/deletions", "/v1/errors"].map(p => api(p)));
    conflicts(c); deletions(d); errors(e);
  } catch (e) { $("error").textContent = e.message; }
}
$("sync-now").addEventListener("click", async () => {
  $("sync-msg").textContent = "syncing...";
  try {
    const r = await api("/v1/sync", {method: "POST", body: JSON.stringify({wait: true})});
    $("sync-msg").textContent = "done: " + r.cycle.result;
  } catch (e) { $("sync-msg").textContent = e.message; }
  refresh();
});
refresh();
setInterval(refresh, 5000);
</script>
</body></html>
)HTML";
  return kPage;
}

}  // namespace crmsync::api
