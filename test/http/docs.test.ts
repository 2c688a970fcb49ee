/**
 * The API docs through inject: /docs/json is an OpenAPI 3 document naming every route with tags, summaries and
 * resolvable references; /docs serves Swagger UI under the page's CSP; the guard applies to /docs, /docs/json
 * and /metrics as to every route; no session secret reaches the docs or the metrics.
 */
import test from 'ava'
import { SECURITY_HEADERS } from '../../src/http/app.js'
import type { McpHttpHandler } from '../../src/mcp/http-transport.js'
import { eventually, harness, PORT } from './harness.js'

const TOKEN = 'docs-token-3b7f'
const CANARY = 'canary-Pa55w0rd-d0c5'

/** /mcp is served with any handler; these tests never reach it. */
const stubMcp: McpHttpHandler = {
  handle: async (_req, res) => void res.writeHead(204).end(),
  count: () => 0,
  closeAll: async () => undefined,
}

interface Operation {
  readonly tags?: string[]
  readonly summary?: string
  readonly security?: Array<Record<string, string[]>>
  readonly responses?: Record<string, { description?: string }>
}
interface OpenApiDoc {
  readonly openapi: string
  readonly info: { title: string; version: string }
  readonly tags: Array<{ name: string }>
  readonly paths: Record<string, Record<string, Operation>>
  readonly components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string }> }
}

/** Every route the status server has, as the document names it, with the access its guard applies. */
const ROUTES: ReadonlyArray<readonly [path: string, method: string, access: 'api' | 'page' | 'public']> = [
  ['/health', 'get', 'api'],
  ['/api/status', 'get', 'api'],
  ['/api/sessions', 'get', 'api'],
  ['/api/sessions/{id}', 'get', 'api'],
  ['/api/tool-calls', 'get', 'api'],
  ['/ws', 'get', 'page'],
  ['/', 'get', 'page'],
  ['/app.js', 'get', 'public'],
  ['/style.css', 'get', 'public'],
  ['/mcp', 'post', 'api'],
  ['/mcp', 'get', 'api'],
  ['/mcp', 'delete', 'api'],
  ['/metrics', 'get', 'api'],
]

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/** Every `$ref` anywhere in `value`. */
function refsIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, found)
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') found.push(v)
      else refsIn(v, found)
    }
  }
  return found
}

/** Follows a local JSON pointer (`#/a/b`) in `doc`. */
const resolvePointer = (doc: unknown, ref: string): unknown =>
  ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined), doc)

test('/docs/json › is an OpenAPI 3 document listing every route with tags, a summary and its token rule', async (t) => {
  const h = await harness(t, { mcp: stubMcp })
  const r = await h.inject('/docs/json')
  t.is(r.statusCode, 200)
  t.regex(String(r.headers['content-type']), /^application\/json/)
  const doc = r.json<OpenApiDoc>()
  t.regex(doc.openapi, /^3\.\d+\.\d+$/)
  t.truthy(doc.info.title)
  t.truthy(doc.info.version)
  t.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['bearer', 'query_token'])

  const tagNames = new Set(doc.tags.map((tag) => tag.name))
  const listed = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
  t.deepEqual(listed.sort(), ROUTES.map(([path, method]) => `${method.toUpperCase()} ${path}`).sort(), 'every route, and only those (not the docs themselves)')
  for (const [path, method, access] of ROUTES) {
    const op = doc.paths[path]?.[method]
    const name = `${method.toUpperCase()} ${path}`
    if (op === undefined) {
      t.fail(`${name} is missing`)
      continue
    }
    t.true((op.tags ?? []).length > 0 && op.tags!.every((tag) => tagNames.has(tag)), `${name} has declared tags`)
    t.true((op.summary ?? '').length > 0, `${name} has a summary`)
    t.true(Object.keys(op.responses ?? {}).length > 0, `${name} has responses`)
    for (const [code, response] of Object.entries(op.responses ?? {})) t.truthy(response.description, `${name} ${code} has a description`)
    const schemes = (op.security ?? []).flatMap((s) => Object.keys(s)).sort()
    t.deepEqual(schemes, access === 'public' ? [] : access === 'page' ? ['bearer', 'query_token'] : ['bearer'], `${name} security`)
  }
  for (const item of Object.values(doc.paths)) for (const method of Object.keys(item)) t.true(HTTP_METHODS.has(method), method)

  t.is(doc.paths['/ws']?.['get']?.responses?.['101']?.description?.includes('WebSocket'), true)
  t.deepEqual(Object.keys(doc.paths['/api/sessions/{id}']!['get']!.responses!).sort(), ['200', '404'])
  // the recursive topic tree is a component, and no reference dangles
  const refs = refsIn(doc)
  t.true(refs.includes('#/components/schemas/topicTreeNode'))
  for (const ref of refs) t.not(resolvePointer(doc, ref), undefined, ref)
})

test('/docs › serves Swagger UI as HTML, with its static files, under the page\'s CSP', async (t) => {
  const h = await harness(t)
  for (const url of ['/docs', '/docs/']) {
    const r = await h.inject(url)
    t.is(r.statusCode, 200, url)
    t.regex(String(r.headers['content-type']), /^text\/html/)
    t.regex(r.body, /swagger-ui-bundle\.js/)
    t.is(r.headers['content-security-policy'], SECURITY_HEADERS['content-security-policy'])
    t.is(r.headers['x-frame-options'], 'DENY')
    t.is(r.headers['referrer-policy'], 'no-referrer')
  }
  const init = await h.inject('/docs/static/swagger-initializer.js')
  t.is(init.statusCode, 200)
  t.regex(init.body, /requestInterceptor/)
  t.regex(init.body, /BaseLayout/)
  const bundle = await h.inject('/docs/static/swagger-ui-bundle.js')
  t.is(bundle.statusCode, 200)
  t.regex(String(bundle.headers['content-type']), /javascript/)
  t.is(bundle.headers['content-security-policy'], SECURITY_HEADERS['content-security-policy'])
  t.is((await h.inject('/docs/yaml')).statusCode, 200)
})

test('with a token › /docs takes it from the header or the query, /docs/json and /metrics from the header only, Swagger UI\'s files need none', async (t) => {
  const h = await harness(t, { token: TOKEN })
  const bearer = { authorization: `Bearer ${TOKEN}` }
  const cases: ReadonlyArray<readonly [url: string, headers: Record<string, string>, status: number]> = [
    ['/docs', {}, 401],
    ['/docs?token=wrong', {}, 401],
    [`/docs?token=${TOKEN}`, {}, 200],
    [`/docs/?token=${TOKEN}`, {}, 200],
    ['/docs', bearer, 200],
    ['/docs/json', {}, 401],
    [`/docs/json?token=${TOKEN}`, {}, 401],
    ['/docs/json', { authorization: 'Bearer wrong' }, 401],
    ['/docs/json', bearer, 200],
    ['/docs/yaml', {}, 401],
    ['/docs/yaml', bearer, 200],
    ['/metrics', {}, 401],
    [`/metrics?token=${TOKEN}`, {}, 401],
    ['/metrics', bearer, 200],
    ['/docs/static/swagger-ui-bundle.js', {}, 200],
    ['/docs/static/swagger-ui.css', {}, 200],
    ['/docs/static/swagger-initializer.js', {}, 200],
  ]
  for (const [url, headers, status] of cases) {
    const r = await h.inject({ url, headers })
    t.is(r.statusCode, status, `${url} ${JSON.stringify(headers)}`)
    if (status === 401) t.is(r.json<{ error: { code: string } }>().error.code, 'UNAUTHORIZED')
  }
  // the initializer holds no token: it reads the page's own URL in the browser
  t.false((await h.inject('/docs/static/swagger-initializer.js')).body.includes(TOKEN))
})

test('a foreign Host or Origin › gets 403 on /docs, /docs/json, Swagger UI\'s files and /metrics', async (t) => {
  const h = await harness(t, { token: TOKEN })
  const bearer = { authorization: `Bearer ${TOKEN}` }
  for (const url of ['/docs', `/docs?token=${TOKEN}`, '/docs/json', '/docs/static/swagger-ui-bundle.js', '/metrics']) {
    const host = await h.inject({ url, headers: { ...bearer, host: `rebind.attacker.example:${PORT}` } })
    t.is(host.statusCode, 403, url)
    t.is(host.json<{ error: { code: string } }>().error.code, 'FORBIDDEN_HOST')
    const origin = await h.inject({ url, headers: { ...bearer, origin: 'http://evil.example' } })
    t.is(origin.statusCode, 403, url)
    t.is(origin.json<{ error: { code: string } }>().error.code, 'FORBIDDEN_ORIGIN')
    t.is((await h.inject({ url, headers: { ...bearer, origin: `http://127.0.0.1:${PORT}` } })).statusCode, 200, `${url} from our own origin`)
  }
})

test('a session\'s password › reaches neither /docs/json nor /metrics', async (t) => {
  const h = await harness(t, { mcp: stubMcp })
  const id = await h.openSession({ connection_string: `mqtt://alice:${CANARY}@127.0.0.1:${h.broker.port}`, username: 'bob', password: `${CANARY}-2` })
  await eventually('the session to show in /metrics', async () => ((await h.inject('/metrics')).body.includes(id.slice(0, 8)) ? true : undefined))
  for (const url of ['/docs/json', '/docs/yaml', '/metrics']) {
    const r = await h.inject(url)
    t.is(r.statusCode, 200, url)
    t.false(r.body.includes(CANARY), url)
    t.false(r.body.includes(`127.0.0.1:${h.broker.port}`), `${url} shows no broker URL`)
  }
})
