#!/usr/bin/env bash
# Starts a throwaway Redis (Debian's redis-server) on a free loopback port, no persistence.
# Installs the package first when missing and we are root. Progress goes to stderr; the
# last stdout line is exports: REDIS_URL=redis://127.0.0.1:PORT REDIS_PID=PID REDIS_RUN_DIR=DIR
set -euo pipefail
say() { echo "[redis] $*" >&2; }
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    say "redis-server is not installed: apt-get install redis-server, or point the tests at one with REDIS_URL"
    exit 1
  fi
  say "installing Debian's redis-server package"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-redis.XXXXXX")
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --dir "$run_dir" --pidfile "$run_dir/redis.pid" --logfile "$run_dir/redis.log" >&2
for _ in $(seq 1 50); do
  [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && break
  sleep 0.1
done
[ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] || { say "Redis did not answer PING"; cat "$run_dir/redis.log" >&2; exit 1; }
say "ready on 127.0.0.1:$port"
echo "REDIS_URL=redis://127.0.0.1:$port REDIS_PID=$(cat "$run_dir/redis.pid") REDIS_RUN_DIR=$run_dir"
