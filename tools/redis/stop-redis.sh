#!/usr/bin/env bash
# Stops a Redis started by start-redis.sh and removes its run directory.
set -u
run_dir=${1:?usage: stop-redis.sh RUN_DIR}
if [ -f "$run_dir/redis.pid" ]; then
  pid=$(cat "$run_dir/redis.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null
fi
case "$run_dir" in */parley-redis.*) rm -rf "$run_dir" ;; esac
exit 0
