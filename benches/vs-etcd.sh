#!/usr/bin/env bash
# ReefDB vs etcd on this machine, same load generator, same disk, one run, one table.
#
# Starts a 3-member etcd cluster (Debian's etcd-server) and a 3-node ReefDB cluster on
# loopback, with data directories side by side under the target dir, and drives both with
# `reefdb bench` at $CLIENTS clients: replicated single-row INSERT vs etcd put, and
# linearizable point read vs etcd linearizable get. Prints both side by side and writes
# the summaries under <target dir>/reef-bench/vs-etcd/ plus a comparison chart and
# <target dir>/reef-bench/vs-etcd.json.
#
#   benches/vs-etcd.sh                       # both systems, 64 clients, 30 s per run
#   ONLY=etcd DURATION=10s benches/vs-etcd.sh
#
# Environment: CLIENTS (64), DURATION (30s), WARMUP (3s), ROWS (10000), ONLY (both|etcd|
# reefdb), ETCD_CLIENT_PORT (23791, .. +2), ETCD_PEER_PORT (23801, .. +2), REEF_HTTP_PORT
# (4001, .. +2; fixed by `reefdb init-cluster`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET_DIR/vs-etcd
OUT=$TARGET_DIR/reef-bench/vs-etcd
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-3s}
ROWS=${ROWS:-10000}
ONLY=${ONLY:-both}
ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-23791}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-23801}
REEF_HTTP_PORT=${REEF_HTTP_PORT:-4001}

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM

need_packages=()
command -v etcd >/dev/null || need_packages+=(etcd-server)
command -v etcdctl >/dev/null || need_packages+=(etcd-client)
command -v jq >/dev/null || need_packages+=(jq)
command -v curl >/dev/null || need_packages+=(curl)
if ((${#need_packages[@]})); then
    echo "installing ${need_packages[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi
# The Debian package may start its own etcd on 2379/2380 under systemd; ours uses other
# ports and its own data directories, so the two never meet.

cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin reefdb >&2
BIN=$TARGET_DIR/release/reefdb

rm -rf "$WORK" "$OUT"
mkdir -p "$WORK" "$OUT"

wait_for() { # URL what
    for _ in $(seq 1 200); do
        if curl -sf -o /dev/null "$1"; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for $2 at $1" >&2
    return 1
}

bench() { # label target workload url-list [extra args...]
    local label=$1 target=$2 workload=$3 urls=$4
    shift 4
    echo "== $label" >&2
    "$BIN" bench --target "$target" --workload "$workload" --url "$urls" \
        --clients "$CLIENTS" --duration "$DURATION" --warmup "$WARMUP" \
        --label "$label" --out "$OUT" --quiet "$@" >&2
}

start_etcd() {
    local cluster="" urls="" i
    for i in 1 2 3; do
        cluster+="${cluster:+,}e$i=http://127.0.0.1:$((ETCD_PEER_PORT + i - 1))"
        urls+="${urls:+,}http://127.0.0.1:$((ETCD_CLIENT_PORT + i - 1))"
    done
    for i in 1 2 3; do
        local c=$((ETCD_CLIENT_PORT + i - 1)) p=$((ETCD_PEER_PORT + i - 1))
        etcd --name "e$i" --data-dir "$WORK/etcd/e$i" \
            --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
            --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token reef-vs-etcd >"$WORK/etcd-e$i.log" 2>&1 &
        PIDS+=($!)
    done
    for i in 1 2 3; do
        wait_for "http://127.0.0.1:$((ETCD_CLIENT_PORT + i - 1))/health" "etcd member e$i"
    done
    ETCD_URLS=$urls
    etcdctl --endpoints="$urls" endpoint status -w table >&2
}

start_reefdb() {
    local urls="" i
    "$BIN" init-cluster --dir "$WORK/reefdb" --nodes 3 >&2
    for i in 1 2 3; do
        "$BIN" run --config "$WORK/reefdb/node$i/config.yaml" >"$WORK/reefdb-node$i.log" 2>&1 &
        PIDS+=($!)
        urls+="${urls:+,}http://127.0.0.1:$((REEF_HTTP_PORT + i - 1))"
    done
    for i in 1 2 3; do
        wait_for "http://127.0.0.1:$((REEF_HTTP_PORT + i - 1))/readyz" "ReefDB node $i"
    done
    REEF_URLS=$urls
    "$BIN" status "http://127.0.0.1:$REEF_HTTP_PORT" >&2 || true
}

runs=()
if [[ $ONLY != reefdb ]]; then
    start_etcd
    bench etcd-put etcd insert "$ETCD_URLS"
    bench etcd-get etcd point-read "$ETCD_URLS" --rows "$ROWS"
    runs+=(etcd-put etcd-get)
    cleanup
    PIDS=()
fi
if [[ $ONLY != etcd ]]; then
    start_reefdb
    bench reefdb-insert reefdb insert "$REEF_URLS" --fresh
    bench reefdb-read reefdb point-read "$REEF_URLS" --rows "$ROWS" --level linearizable
    runs=(reefdb-insert reefdb-read "${runs[@]}")
    cleanup
    PIDS=()
fi

# One table, rows = runs.
files=()
for r in "${runs[@]}"; do files+=("$OUT/$r.json"); done
jq -s '.' "${files[@]}" >"$TARGET_DIR/reef-bench/vs-etcd.json"
echo
echo "ReefDB vs etcd: $CLIENTS clients, ${DURATION} per run after ${WARMUP} warm-up, 3 nodes on loopback, $(nproc) cores"
jq -r -s '
  (["run", "workload", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "bench cpu"] | @tsv),
  (.[] | [.config.label, .config.workload, (.requests_per_s | floor),
          .latency_ms.p50, .latency_ms.p90, .latency_ms.p99, .latency_ms.p99_9, .latency_ms.max,
          .errors_total, ((.bench_cpu.percent_of_one_core | floor | tostring) + "%")] | @tsv)
' "${files[@]}" | column -t -s $'\t'
if [[ $ONLY == both ]]; then
    echo
    jq -r -s '
      def pair(a; b): (.[] | select(.config.label == a)) as $x | (.[] | select(.config.label == b)) as $y |
        "\(a) vs \(b): throughput \($x.requests_per_s / $y.requests_per_s * 100 | floor / 100)x, p99 \($x.latency_ms.p99) ms vs \($y.latency_ms.p99) ms";
      pair("reefdb-insert"; "etcd-put"), pair("reefdb-read"; "etcd-get")
    ' "${files[@]}"
fi
hgrms=()
for r in "${runs[@]}"; do hgrms+=("$OUT/$r.hgrm"); done
"$BIN" bench plot "${hgrms[@]}" -o "$OUT/vs-etcd.svg" --title "ReefDB vs etcd, $CLIENTS clients" >&2
echo "summaries: $OUT/*.json, chart: $OUT/vs-etcd.svg, combined: $TARGET_DIR/reef-bench/vs-etcd.json"
