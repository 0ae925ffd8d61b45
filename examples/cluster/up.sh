#!/usr/bin/env bash
# Starts a local Skald cluster on loopback, the way Loki runs in microservices mode:
# one distributor, three ingesters (replication factor 3), two queriers, a query
# frontend, a query scheduler and a compactor, all on S3-compatible storage (s3s-fs).
#
#   examples/cluster/up.sh DIR      # logs in DIR/logs, pid files in DIR/pids/<role>.pid
#   examples/cluster/down.sh DIR
#
# Prints `push: URL` (the distributor) and `query: URL` (the query frontend).
# Environment:
#   SKALD        the skald binary (default: target/release/skald, built if missing)
#   S3S_FS       the s3s-fs binary (default: s3s-fs on PATH or ~/.cargo/bin/s3s-fs;
#                install: cargo install s3s-fs --version 0.14.1 --features binary --locked)
#   PORT_BASE    first port used (default 31000; the cluster uses PORT_BASE..PORT_BASE+99)
#   SKALD_LIMITS extra lines for limits_config (YAML, indented by two spaces)
#   SKALD_QUERY_INGESTERS_WITHIN  querier.query_ingesters_within (default 3h)
#   SKALD_ZONES  when set: ingester-N in availability zone zone-N, zone-aware replication
#   SKALD_COMPACTION_INTERVAL  compactor.compaction_interval (default 10m)
#   SKALD_RETENTION_DELETE_DELAY  compactor.retention_delete_delay (default 2h)
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SKALD=${SKALD:-$ROOT/target/release/skald}
if [ ! -x "$SKALD" ]; then
    echo "building $SKALD" >&2
    (cd "$ROOT" && cargo build --release --locked)
fi
S3S_FS=${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
if [ ! -x "$S3S_FS" ]; then
    echo "s3s-fs not found: cargo install s3s-fs --version 0.14.1 --features binary --locked" >&2
    exit 1
fi
BASE=${PORT_BASE:-31000}
mkdir -p "$DIR/pids" "$DIR/logs" "$DIR/config" "$DIR/s3/skald" "$DIR/data"

wait_for() { # URL WHAT
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for $2 ($1); see $DIR/logs" >&2
    exit 1
}

# The object store.
S3_PORT=$BASE
"$S3S_FS" --host 127.0.0.1 --port "$S3_PORT" --access-key skald --secret-key skaldsecret "$DIR/s3" \
    >"$DIR/logs/s3s-fs.log" 2>&1 &
echo $! >"$DIR/pids/s3s-fs.pid"
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break
    sleep 0.1
done

SCHEDULER_GRPC=$((BASE + 11))
SEED_GOSSIP=$((BASE + 12))

# node NAME TARGET INDEX: writes NAME's config and starts it. Node INDEX uses ports
# BASE+10*INDEX (HTTP), +1 (gRPC) and +2 (gossip).
node() {
    local name=$1 target=$2 index=$3 zone=${4:-}
    # SKALD_ZONES=1: each ingester in its own availability zone, replicas zone-aware.
    local zone_lines="" zone_aware=false
    if [ -n "${SKALD_ZONES:-}" ]; then
        zone_aware=true
        if [ -n "$zone" ]; then zone_lines="    availability_zone: $zone"; fi
    fi
    local http=$((BASE + 10 * index)) grpc=$((BASE + 10 * index + 1)) gossip=$((BASE + 10 * index + 2))
    cat >"$DIR/config/$name.yaml" <<YAML
auth_enabled: false
target: $target
server:
  http_listen_address: 127.0.0.1
  http_listen_port: $http
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: $grpc
  grpc_server_max_recv_msg_size: 104857600
  grpc_server_max_send_msg_size: 104857600
  log_level: info
common:
  path_prefix: $DIR/data/$name
  replication_factor: 3
memberlist:
  node_name: $name
  bind_addr: [127.0.0.1]
  bind_port: $gossip
  join_members: [127.0.0.1:$SEED_GOSSIP]
  gossip_interval: 200ms
ingester:
  lifecycler:
    tokens_file_path: $DIR/data/$name/tokens.json
$zone_lines
    heartbeat_period: 1s
    ring:
      heartbeat_timeout: 10s
      zone_awareness_enabled: $zone_aware
querier:
  query_ingesters_within: ${SKALD_QUERY_INGESTERS_WITHIN:-3h}
frontend:
  scheduler_address: 127.0.0.1:$SCHEDULER_GRPC
frontend_worker:
  scheduler_address: 127.0.0.1:$SCHEDULER_GRPC
compactor:
  compaction_interval: ${SKALD_COMPACTION_INTERVAL:-10m}
  retention_delete_delay: ${SKALD_RETENTION_DELETE_DELAY:-2h}
limits_config:
  split_queries_by_interval: 1h
${SKALD_LIMITS:-}
storage_config:
  aws:
    endpoint: 127.0.0.1:$S3_PORT
    bucketnames: skald
    region: us-east-1
    access_key_id: skald
    secret_access_key: skaldsecret
    s3forcepathstyle: true
    insecure: true
  tsdb_shipper:
    resync_interval: 5s
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: s3
      schema: v13
      index:
        prefix: index_
        period: 24h
YAML
    "$SKALD" server --config "$DIR/config/$name.yaml" >"$DIR/logs/$name.log" 2>&1 &
    echo $! >"$DIR/pids/$name.pid"
    echo "http://127.0.0.1:$http"
}

SCHEDULER=$(node query-scheduler query-scheduler 1)
DISTRIBUTOR=$(node distributor distributor 2)
INGESTERS=()
for i in 1 2 3; do
    INGESTERS+=("$(node "ingester-$i" ingester $((2 + i)) "zone-$i")")
done
QUERIER=$(node querier querier 6)
FRONTEND=$(node query-frontend query-frontend 7)
COMPACTOR=$(node compactor compactor 8)
QUERIER_2=$(node querier-2 querier 9)

for url in "$SCHEDULER" "$DISTRIBUTOR" "${INGESTERS[@]}" "$QUERIER" "$FRONTEND" "$COMPACTOR" "$QUERIER_2"; do
    wait_for "$url/ready" "$url"
done
# Pushes need the three ingesters ACTIVE in the distributor's view of the ring.
for _ in $(seq 1 300); do
    active=$(curl -fsS "$DISTRIBUTOR/ring?format=json" 2>/dev/null | grep -o '"state":"ACTIVE"' | wc -l || true)
    [ "${active:-0}" -ge 3 ] && break
    sleep 0.1
done
if [ "${active:-0}" -lt 3 ]; then
    echo "the distributor sees ${active:-0} ACTIVE ingesters, not 3; see $DIR/logs" >&2
    exit 1
fi
echo "$DISTRIBUTOR" >"$DIR/push.url"
echo "$FRONTEND" >"$DIR/query.url"
echo "push: $DISTRIBUTOR"
echo "query: $FRONTEND"
