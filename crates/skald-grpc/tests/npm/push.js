// Pushes with the third-party npm package `loki-grpc-client` (Loki's generated gRPC
// client for Node.js). Usage: node push.js HOST:PORT TENANT COUNT
// Run by tests/loki_grpc_client_npm.rs; needs `npm install loki-grpc-client@2.2.0` in
// the directory named by LOKI_GRPC_CLIENT_DIR (NODE_PATH points at its node_modules).
const loki = require('loki-grpc-client');

const [addr, tenant, countText] = process.argv.slice(2);
const count = Number(countText);
const client = new loki.PusherClient(addr, loki.createInsecureCredentials());

const stream = new loki.StreamAdapter();
stream.setLabels('{app="npm", client="loki-grpc-client"}');
const nowMs = Date.now();
const entries = [];
for (let i = 0; i < count; i++) {
  const ts = new loki.Timestamp();
  const ms = nowMs - (count - i);
  ts.setSeconds(Math.floor(ms / 1000));
  ts.setNanos((ms % 1000) * 1e6);
  const entry = new loki.EntryAdapter();
  entry.setTimestamp(ts);
  entry.setLine(`npm line ${i}`);
  const meta = new loki.LabelPairAdapter();
  meta.setName('trace_id');
  meta.setValue(`t${i}`);
  entry.setStructuredmetadataList([meta]);
  entries.push(entry);
}
stream.setEntriesList(entries);
const request = new loki.PushRequest();
request.setStreamsList([stream]);

client.push(request, loki.createOrgIdMetadata(tenant), (error) => {
  if (error) {
    console.error(`push failed: code=${error.code} ${error.details}`);
    process.exit(1);
  }
  console.log('pushed');
  client.close();
});
