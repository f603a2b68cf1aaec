// An independent client for graph-emulator: Microsoft's JavaScript Graph SDK
// (@microsoft/microsoft-graph-client) pointed at the emulator with baseUrl. graph_emulator_tests
// runs it with GRAPH_BASE (https://127.0.0.1:PORT/), GRAPH_TOKEN and NODE_EXTRA_CA_CERTS; it
// prints one JSON line per step and exits 0 when every step behaved as Graph does.
"use strict";
const { Client } = require("@microsoft/microsoft-graph-client");

const base = process.env.GRAPH_BASE;
const token = process.env.GRAPH_TOKEN;
const host = new URL(base).hostname;

const client = Client.init({
  baseUrl: base,
  defaultVersion: "v1.0",
  customHosts: new Set([host]),  // the SDK sends the token only to Graph's hosts and these
  authProvider: (done) => done(null, token),
});

function step(name, data) {
  console.log(JSON.stringify({ step: name, ...data }));
}

async function deltaRound(first) {
  const ids = [];
  let page = await client.api(first).get();
  for (;;) {
    for (const v of page.value) ids.push(v["@removed"] ? "-" + v.id : v.id);
    if (page["@odata.deltaLink"]) return { ids, deltaLink: page["@odata.deltaLink"] };
    page = await client.api(page["@odata.nextLink"]).header("Prefer", "odata.maxpagesize=1").get();
  }
}

async function main() {
  const contact = await client.api("/me/contacts").post({
    givenName: "Pavel",
    surname: "Bansky",
    emailAddresses: [{ address: "pavelb@contoso.com", name: "Pavel Bansky" }],
  });
  step("create", { id: contact.id, displayName: contact.displayName, etag: contact["@odata.etag"] });
  const second = await client.api("/me/contacts").post({ givenName: "Ann" });

  const first = await client.api("/me/contacts/delta").header("Prefer", "odata.maxpagesize=1").get();
  let ids = first.value.map((v) => v.id);
  let link = first["@odata.nextLink"] || first["@odata.deltaLink"];
  let round = first["@odata.deltaLink"] ? { ids, deltaLink: link } : await deltaRound(link);
  if (!first["@odata.deltaLink"]) round.ids = ids.concat(round.ids);
  step("delta", { ids: round.ids.sort(), paged: !first["@odata.deltaLink"] });

  const patched = await client
    .api(`/me/contacts/${contact.id}`)
    .header("If-Match", contact["@odata.etag"])
    .patch({ jobTitle: "Manager" });
  step("patch", { jobTitle: patched.jobTitle, etag: patched["@odata.etag"] });

  let stale = null;
  try {
    await client.api(`/me/contacts/${contact.id}`).header("If-Match", contact["@odata.etag"]).patch({ jobTitle: "Lost" });
  } catch (e) {
    stale = { statusCode: e.statusCode, code: e.code };
  }
  step("stale", stale || { statusCode: 200 });

  const category = await client.api("/me/outlook/masterCategories").post({ displayName: "CRM", color: "preset9" });
  const tagged = await client.api(`/me/contacts/${contact.id}`).patch({ categories: [category.displayName] });
  step("category", { id: category.id, color: category.color, categories: tagged.categories });

  await client.api(`/me/contacts/${second.id}`).delete();
  const next = await deltaRound(round.deltaLink);
  step("delta2", { ids: next.ids.sort() });

  const ok =
    round.ids.length === 2 &&
    patched.jobTitle === "Manager" &&
    stale && stale.statusCode === 412 &&
    tagged.categories[0] === "CRM" &&
    next.ids.includes(contact.id) && next.ids.includes("-" + second.id);
  step("done", { ok });
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  step("error", { message: String(e && e.message), statusCode: e && e.statusCode, code: e && e.code });
  process.exit(1);
});
