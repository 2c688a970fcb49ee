import { createServer, type Server } from 'node:net'
import { Aedes } from 'aedes'

/** A running in-process MQTT 3.1.1 broker (aedes) bound to one TCP port. */
export interface EmbeddedBroker {
  readonly host: string
  readonly port: number
  readonly url: string
  readonly aedes: Aedes
  /** Stops accepting, drops every client and frees the port. */
  close(): Promise<void>
}

/** Starts aedes on host:port; port 0 picks a free one. Rejects with EADDRINUSE when taken. */
export async function startEmbeddedBroker(opts: { host?: string; port?: number } = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1'
  const aedes = await Aedes.createBroker()
  const server: Server = createServer(aedes.handle)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (e) {
    // aedes' own timers would keep the process alive
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    throw e
  }
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      // server.close waits for open sockets; aedes.close ends them
      aedes.close(() => undefined)
    }))
  return { host, port, url: `mqtt://${host}:${port}`, aedes, close }
}
