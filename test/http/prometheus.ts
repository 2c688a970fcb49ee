/**
 * A strict reader of the Prometheus text format (0.0.4) for tests: `# HELP` and `# TYPE` lines, samples
 * `name{label="value",…} value [timestamp]`, blank lines. Throws on anything else, on a sample whose family has
 * no TYPE, and on a series given twice.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Exposition {
  readonly samples: readonly Sample[]
  readonly types: ReadonlyMap<string, MetricType>
  readonly help: ReadonlyMap<string, string>
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/** A sample value: a decimal or exponent float, `NaN`, `+Inf` or `-Inf` (case as Go's ParseFloat takes them). */
export function parseValue(text: string): number {
  if (FLOAT.test(text)) return Number(text)
  if (/^nan$/i.test(text)) return NaN
  if (/^[+]?inf$/i.test(text)) return Infinity
  if (/^-inf$/i.test(text)) return -Infinity
  throw new Error(`not a float: ${JSON.stringify(text)}`)
}

/** Reads `a="x",b="y\"z"` (an optional trailing comma allowed). */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq < 0) throw new Error(`bad labels: ${text}`)
    const name = text.slice(i, eq).trim()
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name: ${JSON.stringify(name)}`)
    if (text[eq + 1] !== '"') throw new Error(`label ${name} is not quoted`)
    let value = ''
    let j = eq + 2
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j]
        if (next === 'n') value += '\n'
        else if (next === '\\' || next === '"') value += next
        else throw new Error(`bad escape in label ${name}`)
      } else {
        value += text[j]
      }
    }
    if (j >= text.length) throw new Error(`unterminated label ${name}`)
    if (name in labels) throw new Error(`label ${name} given twice`)
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (i < text.length) throw new Error(`bad labels after ${name}: ${text}`)
  }
  return labels
}

/** The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` of a histogram or summary `x`, else itself. */
function familyOf(name: string, types: ReadonlyMap<string, MetricType>): string {
  if (types.has(name)) return name
  const m = /^(.*)_(bucket|sum|count)$/.exec(name)
  return m !== null && (types.get(m[1]!) === 'histogram' || types.get(m[1]!) === 'summary') ? m[1]! : name
}

/** Parses a whole exposition; throws with the line number on the first bad line. */
export function parsePrometheus(text: string): Exposition {
  const samples: Sample[] = []
  const types = new Map<string, MetricType>()
  const help = new Map<string, string>()
  const seen = new Set<string>()
  text.split('\n').forEach((line, index) => {
    const where = `line ${index + 1}: ${line}`
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (m === null) return // another comment
      const [, kind, name, rest = ''] = m
      if (!NAME.test(name!)) throw new Error(`bad metric name, ${where}`)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type, ${where}`)
        if (types.has(name!)) throw new Error(`TYPE given twice, ${where}`)
        types.set(name!, rest as MetricType)
      } else {
        help.set(name!, rest)
      }
      return
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/.exec(line)
    if (m === null) throw new Error(`not a sample, ${where}`)
    const [, name, labelText, valueText] = m
    let labels: Record<string, string>
    let value: number
    try {
      labels = parseLabels(labelText ?? '')
      value = parseValue(valueText!)
    } catch (e) {
      throw new Error(`${(e as Error).message}, ${where}`, { cause: e })
    }
    if (!types.has(familyOf(name!, types))) throw new Error(`no TYPE for the family of ${name}, ${where}`)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) throw new Error(`series given twice, ${where}`)
    seen.add(key)
    samples.push({ name: name!, labels, value })
  })
  return { samples, types, help }
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none; throws when several. */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return found[0]?.value
}
