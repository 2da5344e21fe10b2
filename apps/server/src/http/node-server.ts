import { type IncomingMessage, Server } from "node:http"
import type { Duplex } from "node:stream"
import { Context, Layer } from "effect"

type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void

/**
 * Node's HTTP server, except that `upgrade` events reach only listeners added through
 * `onUpgrade`. NodeHttpServer would answer upgrades with Effect's `Socket`, which hides
 * what `/ws` needs from `ws` itself: protocol pings, `bufferedAmount` and close codes.
 */
class ServerWithOwnUpgrades extends Server {
  override on(event: string | symbol, listener: (...args: Array<any>) => void): this {
    return event === "upgrade" ? this : super.on(event as string, listener)
  }
  addUpgradeListener(listener: UpgradeListener) {
    super.on("upgrade", listener)
  }
}

export class HttpServerInstance extends Context.Service<
  HttpServerInstance,
  {
    readonly server: Server
    readonly onUpgrade: (listener: UpgradeListener) => void
  }
>()("parley/server/http/HttpServerInstance") {
  static readonly layer = (options: { readonly maxHeaderSize: number }) =>
    Layer.sync(HttpServerInstance, () => {
      const server = new ServerWithOwnUpgrades({ maxHeaderSize: options.maxHeaderSize })
      return HttpServerInstance.of({ server, onUpgrade: (listener) => server.addUpgradeListener(listener) })
    })
}
