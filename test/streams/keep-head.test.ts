import test from 'ava'
import fc from 'fast-check'
import { keepHead } from '../../src/streams/keep-head.js'
import type { Message } from '../../src/streams/types.js'
import { messageView } from '../../src/tools/message-view.js'

const msg = (payload: Buffer, topic = 'a/b'): Message => ({ topic, payload, qos: 1, retain: false, receivedAt: 1_700_000_000_000 })

test('keepHead keeps a short payload as it is', (t) => {
  const m = msg(Buffer.from('short'))
  t.is(keepHead(m, 5), m)
})

test('keepHead copies the head of a long payload into memory of its own and says how long it was', (t) => {
  const big = Buffer.alloc(65536, 0x41)
  const k = keepHead(msg(big), 1024)
  t.is(k.payload.length, 1024)
  t.true(k.payload.buffer.byteLength < 65536, 'the head must not be a view into the whole payload')
  t.deepEqual(k.cut, { sizeBytes: 65536, utf8: true })
  t.is(keepHead(k, 1024), k)
})

test('keepHead cuts UTF-8 text before a character, never inside one', (t) => {
  const text = Buffer.from('ab€€€') // € is 3 bytes: a b [e2 82 ac] …
  const k = keepHead(msg(text), 4)
  t.is(k.payload.toString('utf8'), 'ab')
  t.deepEqual(k.cut, { sizeBytes: text.length, utf8: true })
  const binary = Buffer.from([0xff, 0xfe, 0x82, 0x82, 0x82, 0x82])
  t.is(keepHead(msg(binary), 4).payload.length, 4)
  t.false(keepHead(msg(binary), 4).cut?.utf8)
})

test('a kept head is shown exactly as the whole message would be, at any cap up to what it keeps', (t) => {
  const payloads = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
    fc.json({ maxDepth: 3 }).map((j) => Buffer.from(j)),
  )
  fc.assert(
    fc.property(payloads, fc.integer({ min: 16, max: 200 }), fc.integer({ min: 0, max: 100 }), (payload, keep, less) => {
      const m = msg(payload)
      const cap = Math.max(1, keep - less)
      t.deepEqual(messageView(keepHead(m, keep), cap), messageView(m, cap))
    }),
    { numRuns: 500 },
  )
})
