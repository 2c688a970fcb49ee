/** An independent mqtt.js subscriber: the witness that checks what really reached the broker. */
import mqtt from 'mqtt'
import type { IPublishPacket } from 'mqtt'

export interface Received {
  readonly topic: string
  readonly payload: Buffer
  readonly packet: IPublishPacket
}

export interface Witness {
  readonly messages: Received[]
  /** Resolves with the first message (from index `from` on) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (m: Received) => boolean, timeoutMs?: number, from?: number): Promise<Received>
  close(): Promise<void>
}

/** Connects to `url`, subscribes to `filter` and records every message. */
export async function witness(url: string, filter: string, opts: { protocolVersion?: 4 | 5; qos?: 0 | 1 | 2 } = {}): Promise<Witness> {
  const client = await mqtt.connectAsync(url, { protocolVersion: opts.protocolVersion ?? 4, reconnectPeriod: 0, clientId: `witness-${Math.random().toString(16).slice(2, 10)}` })
  const messages: Received[] = []
  const waiters = new Set<() => void>()
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload, packet })
    for (const wake of [...waiters]) wake()
  })
  await client.subscribeAsync(filter, { qos: opts.qos ?? 2 })
  return {
    messages,
    waitFor: (match, timeoutMs = 5000, from = 0) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = messages.slice(from).find(match)
          if (found !== undefined) {
            waiters.delete(check)
            clearTimeout(timer)
            resolve(found)
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching message within ${timeoutMs} ms (${messages.length} seen: ${messages.slice(-5).map((m) => m.topic).join(', ')})`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    close: () => client.endAsync(true),
  }
}
