#!/usr/bin/env bash
# Smoke run for CI: builds every fuzz target and runs each for a few seconds on a scratch
# copy of its committed corpus (so CI never grows the committed corpus). Needs nightly and
# cargo-fuzz. The long runs and their record are in README.md.
#
#   fuzz/ci.sh            # 10 seconds per target
#   SECS=60 fuzz/ci.sh    # longer
set -euo pipefail
cd "$(dirname "$0")"
SECS="${SECS:-10}"
TARGETS=(sql_frontend http_body peer_frame command_batch segment_record snapshot_manifest
  engine_snapshot_header)
cargo +nightly fuzz build
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${TARGETS[@]}"; do
  mkdir -p "$scratch/$t"
  cp -r "corpus/$t/." "$scratch/$t/"
  echo "== $t (${SECS}s)"
  if ! cargo +nightly fuzz run "$t" "$scratch/$t" -- -max_total_time="$SECS" \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/" >"$scratch/$t.log" 2>&1; then
    tail -60 "$scratch/$t.log" >&2
    mkdir -p "artifacts/$t"
    cp "$scratch"/crash-* "$scratch"/oom-* "$scratch"/timeout-* "artifacts/$t/" 2>/dev/null || true
    echo "fuzz target $t failed: reproducer copied to fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$scratch/$t.log" || true
done
