import test from 'ava'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import {
  isSystemTopic,
  MAX_TOPIC_BYTES,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from '../../src/mqtt/topic.js'

const leftOf = (r: E.Either<string, string>): string => (E.isLeft(r) ? r.left : `Right(${r.right})`)

// '€' is 3 bytes in UTF-8 and one UTF-16 unit, so these lengths prove bytes are counted, not characters.
const euros = (bytes: number): string => '€'.repeat(Math.floor(bytes / 3)) + 'a'.repeat(bytes % 3)

// validateTopicName

test('validateTopicName › accepts ordinary, $-prefixed, single-level and empty-level names', (t) => {
  const names = ['sensors/kitchen/temp', '$SYS/broker/uptime', 'a', '/', 'a//b', '/leading', 'trailing/', 'ünïcødé/😀']
  for (const name of names) {
    t.deepEqual(validateTopicName(name), E.right(name), name)
  }
})

test('validateTopicName › rejects the wildcard + and says to publish to a concrete topic', (t) => {
  const reason = leftOf(validateTopicName('sensors/+/temp'))
  t.regex(reason, /cannot contain the wildcard '\+'/)
  t.regex(reason, /concrete topic such as 'sensors\/kitchen\/temp'/)
})

test('validateTopicName › rejects the wildcard # anywhere in the name', (t) => {
  for (const name of ['#', 'sensors/#', 'a#b']) {
    t.regex(leftOf(validateTopicName(name)), /wildcard '#'/, name)
  }
})

test('validateTopicName › rejects the empty name', (t) => {
  t.regex(leftOf(validateTopicName('')), /cannot be empty/)
})

test('validateTopicName › rejects U+0000', (t) => {
  t.regex(leftOf(validateTopicName('a\u0000b')), /U\+0000/)
})

test('validateTopicName › rejects an unpaired surrogate that UTF-8 cannot carry', (t) => {
  t.regex(leftOf(validateTopicName('a/\ud800')), /unpaired surrogate/)
})

test('validateTopicName › accepts exactly 65535 UTF-8 bytes and rejects 65536', (t) => {
  const fits = euros(MAX_TOPIC_BYTES)
  const over = euros(MAX_TOPIC_BYTES + 1)
  t.is(Buffer.byteLength(fits), 65535)
  t.true(fits.length < 30000)
  t.true(E.isRight(validateTopicName(fits)))
  t.regex(leftOf(validateTopicName(over)), /limited to 65535 UTF-8 bytes but this one has 65536/)
})

test('validateTopicName › counts a four-byte character as four bytes', (t) => {
  const emoji = '😀'.repeat(16383) // 65532 bytes
  t.true(E.isRight(validateTopicName(emoji + 'abc')))
  t.true(E.isLeft(validateTopicName(emoji + 'abcd')))
})

// validateTopicFilter

test('validateTopicFilter › accepts names, lone wildcards and well-placed wildcards', (t) => {
  const filters = ['a/b', '#', '+', '+/+/#', 'sensors/+/temp', 'sensors/#', '$SYS/#', '/#', '+/', 'a//+', '/', '$share']
  for (const filter of filters) {
    t.deepEqual(validateTopicFilter(filter), E.right(filter), filter)
  }
})

test('validateTopicFilter › rejects # that is not the last level', (t) => {
  for (const filter of ['a/#/b', '#/a', '#/']) {
    t.regex(leftOf(validateTopicFilter(filter)), /'#' must be the last level/, filter)
  }
})

test('validateTopicFilter › rejects # sharing a level with other characters', (t) => {
  for (const filter of ['a#', 'a/b#', '##', 'a/#b/c']) {
    t.regex(leftOf(validateTopicFilter(filter)), /'#' must be a whole topic level/, filter)
  }
})

test('validateTopicFilter › rejects + sharing a level with other characters and names the level', (t) => {
  t.regex(leftOf(validateTopicFilter('a+')), /'\+' must be a whole topic level, but level 1 is 'a\+'/)
  t.regex(leftOf(validateTopicFilter('x/+a')), /level 2 is '\+a'/)
  t.regex(leftOf(validateTopicFilter('++')), /whole topic level/)
})

test('validateTopicFilter › rejects empty, U+0000 and over-long filters', (t) => {
  t.regex(leftOf(validateTopicFilter('')), /cannot be empty; use '#'/)
  t.regex(leftOf(validateTopicFilter('a/\u0000')), /U\+0000/)
  t.true(E.isRight(validateTopicFilter(euros(MAX_TOPIC_BYTES - 2) + '/#')))
  t.regex(leftOf(validateTopicFilter(euros(MAX_TOPIC_BYTES - 1) + '/#')), /65536/)
})

test('validateTopicFilter › accepts shared subscriptions with a plain group and a valid filter', (t) => {
  for (const filter of ['$share/workers/sensors/#', '$share/g/+', '$share/g/$SYS/#', '$share/g/a//b']) {
    t.deepEqual(validateTopicFilter(filter), E.right(filter), filter)
  }
})

test('validateTopicFilter › rejects shared subscriptions with a missing or wildcard group or a bad filter', (t) => {
  t.regex(leftOf(validateTopicFilter('$share/')), /needs a group and a filter/)
  t.regex(leftOf(validateTopicFilter('$share/g')), /needs a group and a filter/)
  t.regex(leftOf(validateTopicFilter('$share//a')), /group cannot be empty/)
  t.regex(leftOf(validateTopicFilter('$share/g+/a')), /group cannot contain/)
  t.regex(leftOf(validateTopicFilter('$share/#/a')), /group cannot contain/)
  t.regex(leftOf(validateTopicFilter('$share/g/')), /needs a filter after the group/)
  t.regex(leftOf(validateTopicFilter('$share/g/a/#/b')), /'#' must be the last level/)
})

// topicMatches

const table: ReadonlyArray<readonly [filter: string, topic: string, matches: boolean]> = [
  ['a/b', 'a/b', true],
  ['a/b', 'a/c', false],
  ['a/b', 'a/b/c', false],
  ['a/b/c', 'a/b', false],
  ['A/b', 'a/b', false],
  ['#', 'a', true],
  ['#', 'a/b/c', true],
  ['#', '/', true],
  ['a/#', 'a', true],
  ['a/#', 'a/b', true],
  ['a/#', 'a/b/c', true],
  ['a/#', 'ab', false],
  ['a/#', 'b/a', false],
  ['a/b/#', 'a', false],
  ['+', 'a', true],
  ['+', 'a/b', false],
  ['+', '/a', false],
  ['+/+', '/a', true],
  ['a/+', 'a/b', true],
  ['a/+', 'a/b/c', false],
  ['a/+', 'a', false],
  ['a/+', 'a/', true],
  ['a/+/c', 'a/b/c', true],
  ['a/+/c', 'a//c', true],
  ['+/+/#', 'a/b', true],
  ['+/+/#', 'a', false],
  ['a//b', 'a//b', true],
  ['a//b', 'a/b', false],
  ['a/b', 'a//b', false],
  ['/#', '/x', true],
  ['/#', 'x', false],
  ['#', '$SYS/broker/uptime', false],
  ['+/broker/uptime', '$SYS/broker/uptime', false],
  ['+', '$SYS', false],
  ['$SYS/#', '$SYS/broker/uptime', true],
  ['$SYS/#', '$SYS', true],
  ['$SYS/+/uptime', '$SYS/broker/uptime', true],
  ['a/#', 'a/$x', true],
  ['a/+', 'a/$x', true],
  ['$share/g/a/+', 'a/b', true],
  ['$share/g/#', 'a/b', true],
  ['$share/g/#', '$SYS/x', false],
  ['$share/g/$SYS/#', '$SYS/x', true],
  ['$share/g/a', 'g/a', false],
]

for (const [filter, topic, expected] of table) {
  test(`topicMatches › '${filter}' ${expected ? 'matches' : 'does not match'} '${topic}'`, (t) => {
    t.is(topicMatches(filter, topic), expected)
  })
}

// A deliberately different, split-based reading of §4.7 used as the oracle for the allocation-free matcher.
function referenceMatches(filter: string, topic: string): boolean {
  const f = filter.startsWith('$share/') ? filter.split('/').slice(2) : filter.split('/')
  const levels = topic.split('/')
  if ((f[0] === '+' || f[0] === '#') && (levels[0] ?? '').startsWith('$')) return false
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= levels.length) return false
    if (f[i] !== '+' && f[i] !== levels[i]) return false
  }
  return f.length === levels.length
}

// A small alphabet so that generated filters and topics often share levels.
const level = fc.constantFrom('a', 'b', 'ab', '', '$x', 'é', '😀')
const topicArb = fc.array(level, { minLength: 1, maxLength: 6 }).map((ls) => ls.join('/'))
const filterArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean())
  .map(([ls, hash, shared]) => (shared ? '$share/g/' : '') + (hash ? [...ls, '#'] : ls).join('/'))

// Any level a topic name may hold; '$share' as a first level would turn the topic into a shared filter.
const nameLevel = fc
  .string({ unit: 'binary' })
  .filter((s) => !/[/+#]/.test(s) && !s.includes('\u0000') && s !== '$share')

test('topicMatches › every topic matches # unless it starts with $, and matches itself', (t) => {
  fc.assert(
    fc.property(fc.array(nameLevel, { minLength: 1, maxLength: 8 }), (levels) => {
      const topic = levels.join('/')
      return topicMatches('#', topic) === !topic.startsWith('$') && topicMatches(topic, topic)
    }),
  )
  t.pass()
})

test('topicMatches › agrees with a split-based reference on generated valid filters', (t) => {
  fc.assert(
    fc.property(filterArb, topicArb, (filter, topic) => {
      if (E.isLeft(validateTopicFilter(filter))) return true
      return topicMatches(filter, topic) === referenceMatches(filter, topic)
    }),
    { numRuns: 5000 },
  )
  t.pass()
})

test('topicMatches › a filter ending in /# matches its parent level', (t) => {
  fc.assert(
    fc.property(topicArb, (topic) => topicMatches(`${topic}/#`, topic) && topicMatches(`${topic}/#`, `${topic}/x`)),
  )
  t.pass()
})

// isSystemTopic

test('isSystemTopic › is true only for topics that start with $', (t) => {
  t.true(isSystemTopic('$SYS/broker/load'))
  t.true(isSystemTopic('$aws/things'))
  t.false(isSystemTopic('sensors/$SYS'))
  t.false(isSystemTopic(''))
})
