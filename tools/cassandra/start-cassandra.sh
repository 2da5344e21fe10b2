#!/usr/bin/env bash
# Starts a real single-node Apache Cassandra 5.0 from its Maven Central jars, on Java 17,
# without Docker. Progress goes to stderr; the last stdout line is shell exports:
#   CASSANDRA_CONTACT_POINTS=127.0.0.1:PORT CASSANDRA_PID=PID CASSANDRA_RUN_DIR=DIR
# Stop it with: stop-cassandra.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$here/pom.xml")
cache=${PARLEY_CACHE:-$HOME/.cache/parley}
lib="$cache/cassandra-$version/lib"
say() { echo "[cassandra] $*" >&2; }

command -v java >/dev/null || { say "Java 17 is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
if [ ! -f "$lib/cassandra-all-$version.jar" ]; then
  command -v mvn >/dev/null || { say "Maven is required once, to fetch Cassandra's jars (apt-get install maven)"; exit 1; }
  say "fetching Cassandra $version jars from Maven Central into $lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib" >&2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
native_port=9042
port_free "$native_port" || native_port=$(free_port)
storage_port=$(free_port)

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-cassandra.XXXXXX")
mkdir -p "$run_dir"/{data,commitlog,saved_caches,hints,cdc_raw}
sed -e "s#@RUN_DIR@#$run_dir#g" -e "s#@NATIVE_PORT@#$native_port#g" -e "s#@STORAGE_PORT@#$storage_port#g" \
  "$here/cassandra.yaml.tpl" >"$run_dir/cassandra.yaml"
cp "$here/logback.xml" "$run_dir/logback.xml"

# Module flags from Cassandra's conf/jvm17-server.options; the rest from jvm-server.options.
jvm17=(
  -Djdk.attach.allowAttachSelf=true
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
  --add-exports java.sql/java.sql=ALL-UNNAMED
  --add-exports java.base/java.lang.ref=ALL-UNNAMED
  --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
  --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
  --add-opens java.base/java.lang.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
  --add-opens java.base/jdk.internal.math=ALL-UNNAMED
  --add-opens java.base/jdk.internal.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  -Dio.netty.tryReflectionSetAccessible=true
)
jamm=$(ls "$lib"/jamm-*.jar | head -1)

say "starting Cassandra $version on 127.0.0.1:$native_port (run dir $run_dir)"
started=$(date +%s.%N)
nohup java -Xms2G -Xmx2G -XX:+ExitOnOutOfMemoryError -Xss256k -XX:+UseG1GC -ea -Djava.net.preferIPv4Stack=true \
  "${jvm17[@]}" "-javaagent:$jamm" \
  -Dcassandra.config="file://$run_dir/cassandra.yaml" \
  -Dcassandra-foreground=yes \
  -Dcassandra.storagedir="$run_dir" \
  -Dlogback.configurationFile="$run_dir/logback.xml" \
  -Dcassandra.logdir="$run_dir" \
  -Dcassandra.skip_wait_for_gossip_to_settle=0 \
  -Dcassandra.ring_delay_ms=100 \
  -Dcassandra.superuser_setup_delay_ms=0 \
  -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon >"$run_dir/stdout.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$run_dir/pid"

# Ready = the port answers and a CQL query succeeds.
deadline=$(($(date +%s) + ${CASSANDRA_START_TIMEOUT:-240}))
until python3 "$here/cql_ping.py" 127.0.0.1 "$native_port" >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then
    say "Cassandra exited during startup; last log lines:"; tail -50 "$run_dir/stdout.log" >&2; exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "Cassandra not ready in time; last log lines:"; tail -50 "$run_dir/stdout.log" >&2
    kill -9 "$pid" 2>/dev/null || true; exit 1
  fi
  sleep 1
done
say "ready in $(python3 -c "import time; print(round(time.time() - $started, 1))") s: $(python3 "$here/cql_ping.py" 127.0.0.1 "$native_port")"
echo "CASSANDRA_CONTACT_POINTS=127.0.0.1:$native_port CASSANDRA_PID=$pid CASSANDRA_RUN_DIR=$run_dir"
