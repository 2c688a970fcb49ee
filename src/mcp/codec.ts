/**
 * io-ts combinators for tool inputs and outputs that also know their JSON Schema, so each tool's codec is
 * the single source of truth for `inputSchema`/`outputSchema` (never written twice).
 */
import * as t from 'io-ts'
import { UNKNOWN_FIELD } from '../errors.js'

export type JsonSchema = { [key: string]: unknown }

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A codec with an explicit JSON Schema fragment merged over its inner codec's schema. */
export class Described<C extends t.Any> extends t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown> {
  readonly _tag = 'Described' as const
  constructor(
    readonly inner: C,
    readonly schema: JsonSchema,
  ) {
    super(inner.name, inner.is, inner.validate, inner.encode)
  }
}

/** Marks a property of `object()` as optional; `defaultValue` is applied when it is absent. */
export class Optional<C extends t.Any, D extends boolean = boolean> extends t.Type<
  t.TypeOf<C> | undefined,
  t.OutputOf<C> | undefined,
  unknown
> {
  readonly _tag = 'Optional' as const
  constructor(
    readonly inner: C,
    readonly hasDefault: D,
    readonly defaultValue?: t.TypeOf<C>,
  ) {
    super(
      inner.name,
      (u): u is t.TypeOf<C> | undefined => u === undefined || inner.is(u),
      (u, c) => (u === undefined ? t.success(defaultValue) : inner.validate(u, c)),
      (a) => (a === undefined ? undefined : inner.encode(a)),
    )
  }
}

type Props = Record<string, t.Any>
type OptionalKeys<P extends Props> = { [K in keyof P]: P[K] extends { readonly _tag: 'Optional'; readonly hasDefault: false } ? K : never }[keyof P]
type PresentKeys<P extends Props> = Exclude<keyof P, OptionalKeys<P>>
type Decoded<C> = C extends Optional<infer I, boolean> ? t.TypeOf<I> : C extends t.Any ? t.TypeOf<C> : never
/** The decoded shape: defaulted props are always present, plain optional ones may be absent. */
export type ObjectOf<P extends Props> = { [K in PresentKeys<P>]: Decoded<P[K]> } & { [K in OptionalKeys<P>]?: Decoded<P[K]> }

/** An object codec that rejects unknown keys (io-ts `exact` would silently strip them). */
export class StrictObject<P extends Props> extends t.Type<ObjectOf<P>, unknown, unknown> {
  readonly _tag = 'StrictObject' as const
  constructor(
    name: string,
    readonly props: P,
    readonly additional: boolean = false,
  ) {
    super(
      name,
      (u): u is ObjectOf<P> => typeof u === 'object' && u !== null && !Array.isArray(u),
      (u, c) => {
        if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c, 'an object')
        const input = u as Record<string, unknown>
        const errors: t.Errors = []
        const out: Record<string, unknown> = additional ? { ...input } : {}
        for (const [key, codec] of Object.entries(props)) {
          const result = codec.validate(input[key], t.appendContext(c, key, codec, input[key]))
          if (result._tag === 'Left') errors.push(...result.left)
          else if (result.right !== undefined) out[key] = result.right
        }
        if (!additional) {
          const known = Object.keys(props)
          for (const key of Object.keys(input)) {
            // own keys only: `in` would let toString, constructor or __proto__ through as known fields
            if (!Object.hasOwn(props, key)) {
              errors.push({
                value: input[key],
                context: [...c, { key, type: t.never, actual: input[key] }],
                message: `${UNKNOWN_FIELD}; allowed fields are ${known.join(', ') || 'none'}`,
              })
            }
          }
        }
        return errors.length > 0 ? t.failures(errors) : t.success(out as ObjectOf<P>)
      },
      t.identity,
    )
  }
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** Attaches a description (and any other JSON Schema keywords) to a codec. */
export const described = <C extends t.Any>(codec: C, description: string, extra: JsonSchema = {}): Described<C> =>
  new Described(codec, { description, ...extra })

/** An optional property, with an optional default applied on decode. */
export function optional<C extends t.Any>(codec: C): Optional<C, false>
export function optional<C extends t.Any>(codec: C, defaultValue: t.TypeOf<C>): Optional<C, true>
export function optional<C extends t.Any>(codec: C, defaultValue?: t.TypeOf<C>): Optional<C> {
  return new Optional(codec, defaultValue !== undefined, defaultValue)
}

/** A strict object codec: unknown keys are rejected, `optional()` props may be absent. */
export const object = <P extends Props>(props: P, name = 'object'): StrictObject<P> => new StrictObject(name, props)

/** An open object codec: keys beyond `props` are kept (for outputs and pass-through maps). */
export const looseObject = <P extends Props>(props: P, name = 'object'): StrictObject<P> => new StrictObject(name, props, true)

/** An integer in [min, max]. */
export const int = (min: number, max: number): Described<t.Type<number, number, unknown>> =>
  new Described(
    new t.Type<number, number, unknown>(
      `an integer from ${min} to ${max}`,
      (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max,
      (u, c) =>
        typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max
          ? t.success(u)
          : t.failure(u, c, `an integer from ${min} to ${max}`),
      t.identity,
    ),
    { type: 'integer', minimum: min, maximum: max },
  )

/** A number in [min, max] (fractions allowed). */
export const num = (min: number, max: number): Described<t.Type<number, number, unknown>> =>
  new Described(
    new t.Type<number, number, unknown>(
      `a number from ${min} to ${max}`,
      (u): u is number => typeof u === 'number' && Number.isFinite(u) && u >= min && u <= max,
      (u, c) =>
        typeof u === 'number' && Number.isFinite(u) && u >= min && u <= max
          ? t.success(u)
          : t.failure(u, c, `a number from ${min} to ${max}`),
      t.identity,
    ),
    { type: 'number', minimum: min, maximum: max },
  )

/** Length in Unicode code points (a lone surrogate counts as one), like ajv's ucs2length. */
function codePoints(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++
    n++
  }
  return n
}

/** A string of at most `maxLength` characters (code points) and at least `minLength`. */
export const str = (minLength = 0, maxLength = 1_000_000): Described<t.Type<string, string, unknown>> => {
  const label = minLength > 0 ? `a non-empty string of at most ${maxLength} characters` : `a string of at most ${maxLength} characters`
  const valid = (u: unknown): u is string => {
    if (typeof u !== 'string') return false
    // counted in code points, as JSON Schema minLength/maxLength are; a string of n UTF-16 units has between
    // n/2 and n code points, so most strings are decided without counting
    if (u.length < minLength || u.length > 2 * maxLength) return false
    if (u.length <= maxLength && Math.ceil(u.length / 2) >= minLength) return true
    const length = codePoints(u)
    return length >= minLength && length <= maxLength
  }
  return new Described(
    new t.Type<string, string, unknown>(label, valid, (u, c) => (valid(u) ? t.success(u) : t.failure(u, c, label)), t.identity),
    { type: 'string', ...(minLength > 0 ? { minLength } : {}), maxLength },
  )
}

/** One of the given string or number literals. */
export const oneOf = <L extends string | number>(values: readonly L[]): Described<t.Type<L, L, unknown>> => {
  const set = new Set<unknown>(values)
  const label = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`
  return new Described(
    new t.Type<L, L, unknown>(
      label,
      (u): u is L => set.has(u),
      (u, c) => (set.has(u) ? t.success(u as L) : t.failure(u, c, label)),
      t.identity,
    ),
    { enum: [...values] },
  )
}

// -------------------------------------------------------------------------------------
// JSON Schema
// -------------------------------------------------------------------------------------

/** Derives the JSON Schema (draft 2020-12 subset that MCP clients read) of a codec built from these combinators and plain io-ts. */
export function toJsonSchema(codec: t.Any): JsonSchema {
  const c = codec as t.Any & { _tag?: string }
  if (c instanceof Described) {
    // a bare t.Type (no _tag) made by int/str/oneOf carries its whole schema in the Described wrapper
    const inner = c.inner as t.Any & { _tag?: string }
    return { ...(inner._tag === undefined ? {} : toJsonSchema(inner)), ...c.schema }
  }
  if (c instanceof Optional) return { ...toJsonSchema(c.inner), ...(c.hasDefault ? { default: c.defaultValue } : {}) }
  if (c instanceof StrictObject) {
    const properties: Record<string, JsonSchema> = {}
    const required: string[] = []
    for (const [key, prop] of Object.entries(c.props as Props)) {
      properties[key] = toJsonSchema(prop)
      if (!(prop instanceof Optional)) required.push(key)
    }
    return {
      type: 'object',
      properties,
      ...(required.length > 0 ? { required } : {}),
      additionalProperties: c.additional,
    }
  }
  switch (c._tag) {
    case 'StringType':
      return { type: 'string' }
    case 'NumberType':
      return { type: 'number' }
    case 'BooleanType':
      return { type: 'boolean' }
    case 'NullType':
      return { type: 'null' }
    case 'UnknownType':
      return {}
    case 'AnyDictionaryType':
      return { type: 'object' }
    case 'LiteralType':
      return { const: (c as unknown as t.LiteralType<string | number | boolean>).value }
    case 'KeyofType':
      return { enum: Object.keys((c as unknown as t.KeyofType<Record<string, unknown>>).keys) }
    case 'ArrayType':
    case 'ReadonlyArrayType':
      return { type: 'array', items: toJsonSchema((c as unknown as t.ArrayType<t.Any>).type) }
    case 'DictionaryType':
      return { type: 'object', additionalProperties: toJsonSchema((c as unknown as t.DictionaryType<t.Any, t.Any>).codomain) }
    case 'UnionType': {
      const members = (c as unknown as t.UnionType<t.Any[]>).types.map(toJsonSchema)
      return { anyOf: members }
    }
    case 'RefinementType':
      return toJsonSchema((c as unknown as t.RefinementType<t.Any>).type)
    case 'InterfaceType':
    case 'PartialType': {
      const props = (c as unknown as t.InterfaceType<Props>).props
      const properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, toJsonSchema(v)]))
      return { type: 'object', properties, ...(c._tag === 'InterfaceType' ? { required: Object.keys(props) } : {}) }
    }
    default:
      throw new Error(`toJsonSchema: no JSON Schema for codec ${c.name} (${String(c._tag)})`)
  }
}
