#!/usr/bin/env bash
# Stop the scheduler and workers that start_local_cluster.sh started (by their PIDs only).
#
#   cluster/scripts/stop_local_cluster.sh          (RUN_DIR=.dask-cluster by default)
set -uo pipefail

RUN_DIR="${RUN_DIR:-.dask-cluster}"
PIDS="$RUN_DIR/pids"
if [ ! -s "$PIDS" ]; then
  echo "no cluster is running from $RUN_DIR" >&2
  exit 0
fi

mapfile -t pids <"$PIDS"
# workers first (they are after the scheduler in the file), then the scheduler
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
for _ in $(seq 1 100); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
rm -f "$PIDS" "$RUN_DIR/address" "$RUN_DIR/scheduler.json"
echo "stopped ${#pids[@]} process(es) from $RUN_DIR"
