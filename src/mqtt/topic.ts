/** MQTT topic names and topic filters (MQTT 3.1.1 §4.7, 5.0 §4.7–4.8): validation and matching. Pure. */
import * as E from 'fp-ts/lib/Either.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Longest topic name or filter, in UTF-8 bytes: MQTT strings carry a 16-bit length prefix (§1.5.3). */
export const MAX_TOPIC_BYTES = 65535

const SHARE_PREFIX = '$share/'
const SHARE_FORM = "'$share/<group>/<filter>', e.g. '$share/workers/sensors/#'"
const EXAMPLE_NAME = "'sensors/kitchen/temp'"

const PLUS = 0x2b
const HASH = 0x23
const DOLLAR = 0x24

// In 'u' mode a surrogate pair is one code point, so this finds only unpaired halves. §1.5.3 forbids
// U+D800..U+DFFF and Buffer would silently encode them as U+FFFD, putting a different topic on the wire.
const LONE_SURROGATE = /\p{Cs}/u

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/** Checks a PUBLISH topic name: non-empty, no wildcards, no U+0000, at most 65535 UTF-8 bytes. */
export function validateTopicName(topic: string): E.Either<string, string> {
  if (topic.length === 0) {
    return E.left(`topic names cannot be empty; publish to a concrete topic such as ${EXAMPLE_NAME}`)
  }
  const problem = stringProblem(topic, 'topic names')
  if (problem !== undefined) return E.left(problem)
  for (const wildcard of ['+', '#'] as const) {
    if (topic.includes(wildcard)) {
      return E.left(
        `topic names cannot contain the wildcard '${wildcard}'; publish to a concrete topic such as ${EXAMPLE_NAME}`,
      )
    }
  }
  return E.right(topic)
}

/** Checks a SUBSCRIBE topic filter, including MQTT 5 shared subscriptions `$share/<group>/<filter>`. */
export function validateTopicFilter(filter: string): E.Either<string, string> {
  if (filter.length === 0) {
    return E.left("topic filters cannot be empty; use '#' for every topic or a filter such as 'sensors/+/temp'")
  }
  const problem = stringProblem(filter, 'topic filters')
  if (problem !== undefined) return E.left(problem)
  if (!filter.startsWith(SHARE_PREFIX)) return levelsProblemOrRight(filter, filter)

  // MQTT 5.0 §4.8.2: the share name is at least one character and holds no '/', '+' or '#'.
  const rest = filter.slice(SHARE_PREFIX.length)
  const groupEnd = rest.indexOf('/')
  if (groupEnd < 0) return E.left(`a shared subscription needs a group and a filter: ${SHARE_FORM}`)
  const group = rest.slice(0, groupEnd)
  if (group.length === 0) return E.left(`the shared subscription group cannot be empty: ${SHARE_FORM}`)
  if (group.includes('+') || group.includes('#')) {
    return E.left(`the shared subscription group cannot contain '+' or '#': ${SHARE_FORM}`)
  }
  const inner = rest.slice(groupEnd + 1)
  if (inner.length === 0) return E.left(`a shared subscription needs a filter after the group: ${SHARE_FORM}`)
  return levelsProblemOrRight(inner, filter)
}

/** Problems every MQTT UTF-8 string can have; `what` names the kind of string in the message. */
function stringProblem(s: string, what: string): string | undefined {
  if (s.includes('\u0000')) return `${what} cannot contain the null character U+0000; remove it`
  if (LONE_SURROGATE.test(s)) return `${what} must be valid Unicode; remove the unpaired surrogate character`
  const bytes = Buffer.byteLength(s, 'utf8')
  if (bytes > MAX_TOPIC_BYTES) {
    return `${what} are limited to ${MAX_TOPIC_BYTES} UTF-8 bytes but this one has ${bytes}; shorten it`
  }
  return undefined
}

/** Wildcard placement (§4.7.1): '+' fills a whole level, '#' fills the whole last level. */
function levelsProblemOrRight(levelsText: string, whole: string): E.Either<string, string> {
  const levels = levelsText.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] ?? ''
    const n = i + 1
    if (level.includes('#')) {
      if (level !== '#') {
        return E.left(
          `the wildcard '#' must be a whole topic level, but level ${n} is '${level}'; ` +
            "write it as its own level at the end, as in 'sensors/#'",
        )
      }
      if (i !== levels.length - 1) {
        return E.left(
          `the wildcard '#' must be the last level, but level ${n} of ${levels.length} is '#'; ` +
            "use '+' for one level in the middle, as in 'sensors/+/temp'",
        )
      }
    }
    if (level.includes('+') && level !== '+') {
      return E.left(
        `the wildcard '+' must be a whole topic level, but level ${n} is '${level}'; ` +
          "write it as its own level, as in 'sensors/+/temp'",
      )
    }
  }
  return E.right(whole)
}

// -------------------------------------------------------------------------------------
// matching
// -------------------------------------------------------------------------------------

/**
 * Whether a valid topic filter matches a topic name: '+' is one level, '#' zero or more trailing levels,
 * `$share/<group>/` is ignored. Allocation-free: it runs once per message per subscription.
 */
export function topicMatches(filter: string, topic: string): boolean {
  let fi = 0
  if (filter.startsWith(SHARE_PREFIX)) {
    const groupEnd = filter.indexOf('/', SHARE_PREFIX.length)
    if (groupEnd < 0) return false
    fi = groupEnd + 1
  }
  // §4.7.2: a filter starting with a wildcard must not match topics starting with '$' ($SYS and friends).
  const first = filter.charCodeAt(fi)
  if ((first === PLUS || first === HASH) && topic.charCodeAt(0) === DOLLAR) return false

  const fLen = filter.length
  const tLen = topic.length
  let ti = 0
  for (;;) {
    let fEnd = filter.indexOf('/', fi)
    if (fEnd < 0) fEnd = fLen
    let tEnd = topic.indexOf('/', ti)
    if (tEnd < 0) tEnd = tLen
    const fLevelLen = fEnd - fi
    if (fLevelLen === 1 && filter.charCodeAt(fi) === HASH) return true
    if (fLevelLen !== 1 || filter.charCodeAt(fi) !== PLUS) {
      if (fLevelLen !== tEnd - ti) return false
      for (let k = 0; k < fLevelLen; k++) {
        if (filter.charCodeAt(fi + k) !== topic.charCodeAt(ti + k)) return false
      }
    }
    if (tEnd === tLen) {
      if (fEnd === fLen) return true
      // The topic ran out of levels: only a final '/#' still matches, because '#' includes the parent
      // level ('sport/#' matches 'sport', §4.7.1.2).
      return fEnd + 2 === fLen && filter.charCodeAt(fEnd + 1) === HASH
    }
    if (fEnd === fLen) return false
    fi = fEnd + 1
    ti = tEnd + 1
  }
}

/** Whether a topic is a broker-internal one (`$SYS/…`, `$aws/…`): those that start with '$'. */
export function isSystemTopic(topic: string): boolean {
  return topic.charCodeAt(0) === DOLLAR
}
