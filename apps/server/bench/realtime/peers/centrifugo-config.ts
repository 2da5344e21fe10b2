/**
 * Centrifugo 6 as the bench runs it: the in-memory engine, insecure client mode (anonymous
 * clients may connect, subscribe and publish to any channel; see `client.insecure` in
 * centrifugo's internal/configtypes), no history, no presence, no stats sent home. The bench
 * uses one channel, "bench". Keys checked against github.com/centrifugal/centrifugo/v6@v6.9.1.
 */
export const centrifugoConfig = (port: number) => ({
  http_server: { address: "127.0.0.1", port },
  engine: { type: "memory" },
  client: { insecure: true },
  http_api: { insecure: true },
  log: { level: "error" },
  usage_stats: { disabled: true }
})
