// The user in Outlook on the web, for crmsync's end-to-end tests with a Microsoft 365 mailbox:
// Microsoft's JavaScript Graph SDK (@microsoft/microsoft-graph-client, installed by
// scripts/setup in tests/emulators/graph/client) pointed at graph-emulator with baseUrl.
//   node graph_user.js METHOD PATH [JSON]     e.g. PATCH /me/contacts/ID '{"jobTitle":"x"}'
// GRAPH_BASE, GRAPH_TOKEN and NODE_EXTRA_CA_CERTS come from the environment. Prints the answer
// as one JSON line ({} for none); exits 1 with the error on stderr.
"use strict";
const { Client } = require("@microsoft/microsoft-graph-client");

const base = process.env.GRAPH_BASE;
const client = Client.init({
  baseUrl: base,
  defaultVersion: "v1.0",
  customHosts: new Set([new URL(base).hostname]),  // the SDK sends tokens only to hosts it knows
  authProvider: (done) => done(null, process.env.GRAPH_TOKEN),
});

async function main() {
  const [method, path, body] = process.argv.slice(2);
  const request = client.api(path);
  const json = body ? JSON.parse(body) : undefined;
  let answer;
  switch (method) {
    case "GET": answer = await request.get(); break;
    case "POST": answer = await request.post(json); break;
    case "PATCH": answer = await request.patch(json); break;
    case "DELETE": answer = await request.delete(); break;
    default: throw new Error("unknown method " + method);
  }
  console.log(JSON.stringify(answer || {}));
}

main().catch((e) => {
  console.error(JSON.stringify({ message: String(e && e.message), statusCode: e && e.statusCode, code: e && e.code }));
  process.exit(1);
});
