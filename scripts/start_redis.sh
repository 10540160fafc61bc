#!/usr/bin/env bash
# A throwaway Redis server for the stream tests and benchmark (Debian's redis-server).
#
#   eval "$(scripts/start_redis.sh)"          # installs redis-server if missing, starts it on
#                                             # 127.0.0.1:<free port> from a temp directory,
#                                             # exports SOUS_TEST_REDIS_URL and SOUS_TEST_REDIS_DIR
#   scripts/start_redis.sh stop "$SOUS_TEST_REDIS_DIR"
#
# Loopback only, no persistence (save "" and no AOF): for tests, never for data you care
# about. The stream tests start their own server the same way (tests/integration/
# stream_support.py); this one serves CI runs and `python benchmarks/bench_stream.py`.
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

if [ "${1:-}" = stop ]; then
  dir=${2:-${SOUS_TEST_REDIS_DIR:?usage: start_redis.sh stop DIR}}
  if [ -f "$dir/redis.pid" ]; then
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -rf "$dir"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server from Debian packages..." >&2
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/sous-redis.XXXXXX)
redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --dir "$dir" \
  --save "" --appendonly no --daemonize yes --pidfile "$dir/redis.pid" \
  --logfile "$dir/redis.log" >&2
for _ in $(seq 100); do
  redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null

echo "export SOUS_TEST_REDIS_URL=redis://127.0.0.1:$port/0"
echo "export SOUS_TEST_REDIS_DIR=$dir"
