/**
 * A live feed client that stops reading (a frozen tab) over a real socket: the server closes it once its
 * buffer passes the bound and counts it, so the server's memory does not grow with it.
 */
import test from 'ava'
import { randomBytes } from 'node:crypto'
import { connect, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { eventually, harness } from './harness.js'

test('a client that never reads is disconnected once its socket buffer passes the bound, and counted', async (t) => {
  const h = await harness(t, { port: 0, feed: { maxBufferedBytes: 256 * 1024, flushMs: 20, dropGraceMs: 200 } })
  await h.http.listen({ host: '127.0.0.1', port: 0 })
  const port = (h.http.server.address() as AddressInfo).port
  const host = `127.0.0.1:${port}`
  const status = () => h.json<{ feed: { clients: number; dropped_clients: number } }>('/api/status', { host })
  const id = await h.openSession()

  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  const head = await new Promise<string>((resolve) => {
    let text = ''
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1')
      if (!text.includes('\r\n\r\n')) return
      socket.off('data', onData)
      resolve(text)
    }
    socket.on('data', onData)
  })
  t.regex(head, /^HTTP\/1\.1 101/)
  socket.pause() // from now on nothing is read: the kernel buffers fill, then the server's

  await eventually('the feed subscription', async () => {
    const s = await h.json<{ sessions: Array<{ session_id: string; subscriptions: Array<{ filter: string; granted: number | null }> }> }>('/api/sessions', { host })
    return s.sessions.find((x) => x.session_id === id)?.subscriptions.some((x) => x.filter === '#' && x.granted !== null) === true ? true : undefined
  })
  t.deepEqual((await status()).feed, { clients: 1, dropped_clients: 0 })

  const pub = await h.publisher()
  const payload = 'p'.repeat(150)
  const deadline = Date.now() + 60_000
  let published = 0
  while ((await status()).feed.dropped_clients === 0) {
    if (Date.now() > deadline) t.fail(`still connected after ${published} messages`)
    for (let i = 0; i < 1000; i++) pub.publish(`flood/${i % 400}`, payload)
    await pub.publishAsync('flood/end', payload, { qos: 1 })
    published += 1001
  }
  t.deepEqual((await status()).feed, { clients: 0, dropped_clients: 1 })
  // the server ends the connection: reading again, the client sees it close
  socket.resume()
  await Promise.race([once(socket, 'close'), new Promise((_, reject) => setTimeout(() => reject(new Error('socket not closed')), 10_000))])
  t.pass()
})
