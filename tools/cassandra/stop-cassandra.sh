#!/usr/bin/env bash
# Stops a node started by start-cassandra.sh and removes its run directory.
set -u
run_dir=${1:?usage: stop-cassandra.sh RUN_DIR}
if [ -f "$run_dir/pid" ]; then
  pid=$(cat "$run_dir/pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null
fi
case "$run_dir" in */parley-cassandra.*) rm -rf "$run_dir" ;; esac
exit 0
