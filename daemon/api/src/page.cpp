// GET /: the status page. Self-contained (no external assets). It carries no data: the
// script reads the API token from the URL fragment (#token=..., never sent to the server)
// or asks for it once, keeps it in sessionStorage, and polls /v1/status with it.
#include "crmsync/api/route.hpp"

namespace crmsync::api {

const std::string& status_page_html() {
  static const std::string kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crmsync</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .8em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.muted{color:#777}
#error{color:#b00}button{font-size:1em;padding:.3em 1em}
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
  const r = await fetch(path, Object.assign({headers: {"Authorization": "Bearer " + t}}, opts || {}));
  if (r.status === 401) { sessionStorage.removeItem(key); askToken(); throw new Error("wrong token"); }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}
function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
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
