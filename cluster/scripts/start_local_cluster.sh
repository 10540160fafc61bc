#!/usr/bin/env bash
# Start a Dask scheduler and N worker processes on this machine, each in the background.
#
#   cluster/scripts/start_local_cluster.sh [N_WORKERS]        (default 2)
#
# Environment (all optional):
#   HOST=127.0.0.1        interface to bind (loopback by default: nothing is exposed)
#   PORT=8786             scheduler port (0 picks a free one; read it from scheduler.json)
#   RUN_DIR=.dask-cluster where scheduler.json, logs and the PID file go
#   THREADS=1             threads per worker (1: tasks never share a GIL)
#   MEMORY_LIMIT=auto     per worker, e.g. 4GB
#   WORKER_RESOURCES=     resources the workers advertise, e.g. "GPU=1" or "GPU=1 MEM=16e9"
#   DASK=dask             the dask CLI (defaults to the one next to $PYTHON, else PATH)
#   PYTHON=python3        used to wait until every worker has connected
# Stop everything with cluster/scripts/stop_local_cluster.sh (same RUN_DIR).
set -euo pipefail

N_WORKERS="${1:-2}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8786}"
RUN_DIR="${RUN_DIR:-.dask-cluster}"
THREADS="${THREADS:-1}"
MEMORY_LIMIT="${MEMORY_LIMIT:-auto}"
WORKER_RESOURCES="${WORKER_RESOURCES:-}"
PYTHON="${PYTHON:-$(command -v python3)}"
DASK="${DASK:-$(dirname "$PYTHON")/dask}"
[ -x "$DASK" ] || DASK="$(command -v dask)"

case "$N_WORKERS" in ''|*[!0-9]*) echo "N_WORKERS must be a number, got '$N_WORKERS'" >&2; exit 2;; esac
# Dashboards listen on the same interface as the scheduler and workers (never all of them).
case "$HOST" in *:*) DASHBOARD="[$HOST]:0";; *) DASHBOARD="$HOST:0";; esac
mkdir -p "$RUN_DIR"
PIDS="$RUN_DIR/pids"
SCHEDULER_FILE="$RUN_DIR/scheduler.json"
if [ -s "$PIDS" ]; then
  echo "a cluster is already running from $RUN_DIR (PIDs in $PIDS); stop it first" >&2
  exit 1
fi
rm -f "$SCHEDULER_FILE"

nohup "$DASK" scheduler --host "$HOST" --port "$PORT" --dashboard-address "$DASHBOARD" \
  --scheduler-file "$SCHEDULER_FILE" >"$RUN_DIR/scheduler.log" 2>&1 &
echo $! >>"$PIDS"

for _ in $(seq 1 300); do [ -s "$SCHEDULER_FILE" ] && break; sleep 0.1; done
if [ ! -s "$SCHEDULER_FILE" ]; then
  echo "the scheduler did not start; see $RUN_DIR/scheduler.log" >&2
  exit 1
fi

extra=()
if [ -n "$WORKER_RESOURCES" ]; then extra+=(--resources "$WORKER_RESOURCES"); fi
for i in $(seq 0 $((N_WORKERS - 1))); do
  nohup "$DASK" worker --scheduler-file "$SCHEDULER_FILE" --name "worker-$i" \
    --nworkers 1 --nthreads "$THREADS" --memory-limit "$MEMORY_LIMIT" \
    --host "$HOST" --dashboard-address "$DASHBOARD" "${extra[@]}" >"$RUN_DIR/worker-$i.log" 2>&1 &
  echo $! >>"$PIDS"
done

ADDRESS="$("$PYTHON" - "$SCHEDULER_FILE" "$N_WORKERS" <<'PY'
import json, sys
from distributed import Client

info = json.load(open(sys.argv[1]))
with Client(info["address"], timeout=60) as client:
    client.wait_for_workers(int(sys.argv[2]), timeout=120)
print(info["address"])
PY
)"
echo "$ADDRESS" >"$RUN_DIR/address"
echo "Dask scheduler at $ADDRESS with $N_WORKERS worker(s); PIDs in $PIDS"
echo "  sous run RECIPE cluster=remote cluster.address=$ADDRESS"
