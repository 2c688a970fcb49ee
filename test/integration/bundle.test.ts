/**
 * dist/ is an esbuild bundle (`npm run bundle`) split into chunks, some loaded only on demand (the status server,
 * Streamable HTTP, the demo broker, mqtt.js): the tests that run .build/src never load those chunks, so these
 * run the bundle itself. Needs dist/ (npm test builds it first).
 *
 * Why the bundle's flags are what they are, measured on the 2-core machine: rxjs, io-ts and fp-ts are aliased
 * to their ES module builds, whose unused parts esbuild drops (the CommonJS builds come whole: 6 MB more RSS);
 * whitespace is minified, names are not (stack traces stay readable; source maps beside each chunk); licence
 * comments go to *.LEGAL.txt because one non-ASCII character in a chunk doubles the memory its source holds;
 * @fastify/swagger and @fastify/swagger-ui stay in node_modules because they read files beside their code.
 */
import { spawn } from 'node:child_process'
import { access, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import test from 'ava'

const dist = fileURLToPath(new URL('../../../dist/', import.meta.url))
const builtMain = join(dist, 'main.js')
const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false)

test('every chunk the bundle imports is in dist/, with its source map, and every chunk is ASCII', async (t) => {
  if (!(await exists(builtMain))) return t.fail('dist/main.js is missing: run `npm run build` first (npm test does)')
  const chunks = (await readdir(dist)).filter((f) => f.endsWith('.js'))
  t.true(chunks.length > 1, 'split into chunks')
  for (const chunk of chunks) {
    const source = await readFile(join(dist, chunk), 'utf8')
    // static `from"./x.js"` and dynamic `import("./x.js")`, as esbuild writes them
    for (const [, target] of source.matchAll(/(?:from|import\()\s*"\.\/([^"]+\.js)"/g)) t.true(chunks.includes(target!), `${chunk} imports ${target}`)
    t.true(source.includes(`//# sourceMappingURL=${chunk}.map`) && (await exists(join(dist, `${chunk}.map`))), `${chunk} has a source map`)
    // V8 keeps every module's source for the life of the process, at two bytes a character when one is not Latin-1
    const wide = /[\u0080-\uffff]/.exec(source)
    t.is(wide, null, `${chunk} has ${JSON.stringify(wide?.[0])} at ${wide?.index}`)
  }
  return undefined
})

test('the bundle runs the demo, the status page, its API docs and Streamable HTTP MCP', async (t) => {
  t.timeout(60_000)
  if (!(await exists(builtMain))) return t.fail('dist/main.js is missing: run `npm run build` first (npm test does)')
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [builtMain, '--demo', '--transport', 'both', '--http-port', '0'],
    env: { PATH: process.env['PATH'] ?? '', MQTT_MCP_LOG_LEVEL: 'info' },
    stderr: 'pipe',
    cwd: tmpdir(),
  })
  let stderr = ''
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  const client = new Client({ name: 'bundle-test', version: '1.0.0' })
  await client.connect(transport)
  t.teardown(() => client.close())
  t.is((await client.listTools()).tools.length, 13)

  // the demo's session is connected through the lazily loaded connection source (mqtt.js)
  const listed = await client.callTool({ name: 'mqtt_list_active_connections', arguments: {} })
  t.falsy(listed.isError, JSON.stringify(listed.content))
  t.regex(JSON.stringify(listed.structuredContent), /"connected"/)

  const deadline = Date.now() + 20_000
  let url: string | undefined
  while (url === undefined && Date.now() < deadline) {
    url = /status page on (http:\/\/[^/\s"]+\/)/.exec(stderr)?.[1]
    if (url === undefined) await new Promise((r) => setTimeout(r, 100))
  }
  if (url === undefined) return t.fail(`no status page: ${stderr}`)
  for (const path of ['', 'api/status', 'metrics', 'docs', 'docs/json', 'docs/static/swagger-ui.css']) {
    t.is((await fetch(url + path)).status, 200, `/${path}`)
  }
  const remote = new Client({ name: 'bundle-test-http', version: '1.0.0' })
  await remote.connect(new StreamableHTTPClientTransport(new URL('mcp', url)))
  t.is((await remote.listTools()).tools.length, 13)
  await remote.close()
  t.notRegex(stderr, /"level":"error"/)
  return undefined
})

test('--version answers on stderr with the version of the package.json beside dist/', async (t) => {
  if (!(await exists(builtMain))) return t.fail('dist/main.js is missing: run `npm run build` first (npm test does)')
  const child = spawn(process.execPath, [builtMain, '--version'], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.is(code, 0)
  t.is(stdout, '')
  const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }
  t.is(stderr.trim(), pkg.version)
  return undefined
})
