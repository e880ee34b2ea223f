#!/usr/bin/env bash
# Read consistency levels side by side, one run: point reads at 64 clients against a 3-node
# ReefDB on loopback at `linearizable` (ReadIndex, batched), `weak` (leader lease) and `none`
# (local state), then the cluster restarted with `raft.batch_read_index: false` and
# `linearizable` again, so the table shows what ReadIndex batching saves.
#
#   benches/reads.sh                          # 64 clients, 20 s per run
#   CLIENTS=16 DURATION=10s benches/reads.sh
#
# Writes <target dir>/reef-bench/reads/*.{hgrm,json,svg} and a comparison chart.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET_DIR/reads-bench
OUT=$TARGET_DIR/reef-bench/reads
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
ROWS=${ROWS:-10000}
PORT=4001

PIDS=()
stop_nodes() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap stop_nodes EXIT INT TERM

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin reefdb >&2
BIN=$TARGET_DIR/release/reefdb
rm -rf "$WORK" "$OUT"
mkdir -p "$WORK" "$OUT"
URLS="http://127.0.0.1:$PORT,http://127.0.0.1:$((PORT + 1)),http://127.0.0.1:$((PORT + 2))"

start_nodes() {
    local i
    for i in 1 2 3; do
        "$BIN" run --config "$WORK/cluster/node$i/config.yaml" >>"$WORK/node$i.log" 2>&1 &
        PIDS+=($!)
    done
    for i in 1 2 3; do
        for _ in $(seq 1 300); do
            curl -sf -o /dev/null "http://127.0.0.1:$((PORT + i - 1))/readyz" && break
            sleep 0.1
        done
    done
}

bench() { # label level [extra args]
    local label=$1 level=$2
    shift 2
    echo "== $label" >&2
    "$BIN" bench --workload point-read --url "$URLS" --clients "$CLIENTS" --duration "$DURATION" \
        --warmup "$WARMUP" --level "$level" --label "$label" --out "$OUT" --quiet "$@" >&2
}

"$BIN" init-cluster --dir "$WORK/cluster" --nodes 3 >&2
start_nodes
bench linearizable linearizable --rows "$ROWS"
bench weak weak
bench none none
stop_nodes
for i in 1 2 3; do
    sed -i 's/batch_read_index: true/batch_read_index: false/' "$WORK/cluster/node$i/config.yaml"
    grep -q 'batch_read_index: false' "$WORK/cluster/node$i/config.yaml" || {
        echo "config of node $i has no batch_read_index key to turn off" >&2
        exit 1
    }
done
start_nodes
bench linearizable-unbatched linearizable

echo
printf '%-24s %10s %9s %9s %9s %8s\n' run "reads/s" "p50 ms" "p99 ms" "max ms" errors
for r in linearizable linearizable-unbatched weak none; do
    f=$OUT/$r.json
    python3 - "$f" "$r" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
l = d["latency_ms"]
print(f'{sys.argv[2]:<24} {d["requests_per_s"]:>10.0f} {l["p50"]:>9.3f} {l["p99"]:>9.3f} {l["max"]:>8.1f} {d["errors_total"]:>8}')
PY
done
"$BIN" bench plot "$OUT"/linearizable.hgrm "$OUT"/linearizable-unbatched.hgrm "$OUT"/weak.hgrm \
    "$OUT"/none.hgrm -o "$OUT/reads.svg" >&2
