# A single-node test cluster, tuned to start fast and stay small on 2 cores.
# @RUN_DIR@, @NATIVE_PORT@ and @STORAGE_PORT@ are filled in by start-cassandra.sh.
cluster_name: parley-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
data_file_directories:
  - @RUN_DIR@/data
commitlog_directory: @RUN_DIR@/commitlog
saved_caches_directory: @RUN_DIR@/saved_caches
hints_directory: @RUN_DIR@/hints
cdc_raw_directory: @RUN_DIR@/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:@STORAGE_PORT@"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: @STORAGE_PORT@
native_transport_port: @NATIVE_PORT@
start_native_transport: true
endpoint_snitch: SimpleSnitch
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
# Tests DROP and TRUNCATE a lot; snapshots would only fill the disk.
auto_snapshot: false
# Paxos v2 needs fewer round trips per LWT.
paxos_variant: v2
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 16MiB
# Keep the node quiet and light: no hints, no batchlog replay delays, no UDFs.
hinted_handoff_enabled: false
dynamic_snitch: false
