/**
 * The npm package as users get it: `npm pack`, then installed with runtime dependencies only into a clean
 * folder (no source tree, no dev dependencies) and run through its bin, as an MCP client or npx would.
 * Needs dist/ (npm test builds it first) and the npm registry. Also checks server.json against package.json
 * and the settings of --help.
 */
import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { access, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import test from 'ava'
import { usage } from '../../src/config.js'

const run = promisify(execFile)
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

interface PackageJson {
  name: string
  version: string
  mcpName?: string
  bin?: Record<string, string>
  files?: string[]
}
const readJson = async <A>(path: string): Promise<A> => JSON.parse(await readFile(path, 'utf8')) as A
const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false)

/**
 * The environment for nested npm commands: without what `npm test` injects about this project (its prefix,
 * package fields, lifecycle), which would point npm back at the repository; registry, cache and proxy stay.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_|config_(local_prefix|prefix|global|omit|include|dry_run|save))/i.test(k) || k === 'INIT_CWD') continue
    env[k] = v
  }
  return env
}

const settingsOfHelp = (): string[] => [...new Set([...usage().matchAll(/\b(MQTT_[A-Z0-9_]+)\b/g)].map((m) => m[1]!))].sort()

test('server.json describes the npm package and every environment variable', async (t) => {
  const pkg = await readJson<PackageJson>(join(repoRoot, 'package.json'))
  interface EnvVar {
    name: string
    description: string
    isRequired?: boolean
    isSecret?: boolean
    format?: string
    default?: string
    choices?: string[]
  }
  const server = await readJson<{
    $schema: string
    name: string
    description: string
    version: string
    repository: { url: string; source: string }
    packages: Array<Record<string, unknown> & { registryType: string; identifier: string; version: string; transport: { type: string }; environmentVariables: EnvVar[] }>
  }>(join(repoRoot, 'server.json'))
  t.is(server.$schema, 'https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json')
  t.is(pkg.mcpName, server.name)
  t.regex(server.name, /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/)
  t.true(server.description.length >= 1 && server.description.length <= 100)
  t.is(server.version, pkg.version)
  t.truthy(server.repository.url && server.repository.source)
  t.is(server.packages.length, 1)
  const npm = server.packages[0]!
  // the schema's Package allows no other keys
  const allowed = ['registryType', 'registryBaseUrl', 'identifier', 'version', 'fileSha256', 'runtimeHint', 'transport', 'runtimeArguments', 'packageArguments', 'environmentVariables']
  t.deepEqual(Object.keys(npm).filter((k) => !allowed.includes(k)), [])
  t.like(npm, { registryType: 'npm', identifier: pkg.name, version: pkg.version, transport: { type: 'stdio' } })
  t.deepEqual(npm.environmentVariables.map((v) => v.name).sort(), settingsOfHelp())
  for (const v of npm.environmentVariables) {
    t.true(v.description.length > 0, v.name)
    t.is(v.isSecret, /PASSWORD|TOKEN|SECRET|KEY/.test(v.name), `${v.name} isSecret`)
    t.is(v.isRequired, false, `${v.name} isRequired`)
    if (v.format !== undefined) t.true(['string', 'number', 'boolean', 'filepath'].includes(v.format), v.name)
    if (v.default !== undefined) t.regex(usage(), new RegExp(`${v.name} .*\\(default ${v.default.replace(/\./g, '\\.')}\\)`), `${v.name} default`)
  }
})

test('the packed package installs without dev dependencies and runs through its bin and npx', async (t) => {
  t.timeout(240_000)
  const started = Date.now()
  const pkg = await readJson<PackageJson>(join(repoRoot, 'package.json'))
  const builtMain = join(repoRoot, 'dist', 'main.js')
  if (!(await exists(builtMain))) return t.fail('dist/main.js is missing: run `npm run build` first (npm test does)')
  t.regex((await readFile(builtMain, 'utf8')).split('\n')[0]!, /^#!\/usr\/bin\/env node$/, 'dist/main.js starts with the shebang')

  const tmp = await mkdtemp(join(tmpdir(), 'mqtt-mcp-pack-'))
  t.teardown(() => rm(tmp, { recursive: true, force: true }))
  const env = npmEnv()

  // ---- the tarball
  const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: repoRoot, env, maxBuffer: 16 * 1024 * 1024 })
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  const tarball = join(tmp, info!.filename)
  t.true(await exists(tarball))
  const files = info!.files.map((f) => f.path)
  for (const f of ['package.json', 'dist/main.js', 'README.md', 'server.json', '.env.example']) t.true(files.includes(f), `tarball has ${f}`)
  if (await exists(join(repoRoot, 'src/http/page'))) {
    for (const f of await readdir(join(repoRoot, 'src/http/page'))) t.true(files.includes(`src/http/page/${f}`), `tarball has src/http/page/${f}`)
  }
  const unwanted = files.filter((f) => /^(test|\.build|bench|node_modules)\//.test(f) || /^src\/.*\.ts$/.test(f) || f.endsWith('.tsbuildinfo') || f === '.env')
  t.deepEqual(unwanted, [], 'no sources, tests, builds for tests, benchmarks or local settings')

  // ---- installed into a clean folder with runtime dependencies only
  const app = join(tmp, 'app')
  await mkdir(app)
  await run('npm', ['init', '-y'], { cwd: app, env })
  await run('npm', ['install', tarball, '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, env, maxBuffer: 16 * 1024 * 1024 })
  const installed = join(app, 'node_modules', pkg.name)
  t.false(await exists(join(app, 'node_modules', 'typescript')), 'no dev dependencies')
  t.false(await exists(join(app, 'node_modules', 'ava')), 'no dev dependencies')
  t.false(await exists(join(installed, 'src', 'main.ts')), 'no TypeScript sources')
  const bin = join(app, 'node_modules', '.bin', Object.keys(pkg.bin ?? {})[0] ?? pkg.name)
  await access(bin, constants.X_OK)
  t.true((await stat(bin)).isFile())
  t.log(`packed and installed in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  // ---- an MCP client spawns the bin in that folder, as assistants do
  const transport = new StdioClientTransport({
    command: bin,
    args: ['--http-port', '0'],
    cwd: app,
    env: { PATH: process.env['PATH'] ?? '', HOME: app },
    stderr: 'pipe',
  })
  let stderr = ''
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  const client = new Client({ name: 'package-test', version: '1.0.0' })
  await client.connect(transport)
  t.teardown(() => client.close())
  t.is(client.getServerVersion()?.name, 'bitsperity-mqtt-mcp')
  t.is(client.getServerVersion()?.version, pkg.version)
  const { tools } = await client.listTools()
  t.true(tools.some((tool) => tool.name === 'mqtt_establish_connection'), tools.map((tool) => tool.name).join(', '))

  // the status page's files are found inside the installed package (src/http/page beside dist/)
  const deadline = Date.now() + 20_000
  let url: string | undefined
  while (url === undefined && Date.now() < deadline) {
    url = /status page on (http:\/\/[^/\s"]+\/)/.exec(stderr)?.[1]
    if (url === undefined) await new Promise((r) => setTimeout(r, 100))
  }
  if (url === undefined) t.fail(`no status page: ${stderr}`)
  else {
    for (const f of ['index.html', 'app.js', 'style.css']) {
      const res = await fetch(url + (f === 'index.html' ? '' : f))
      t.is(res.status, 200, f)
      t.is(await res.text(), await readFile(join(repoRoot, 'src/http/page', f), 'utf8'), `${f} is the packaged file`)
    }
    t.notRegex(stderr, /status page files not found/)
  }
  await client.close()

  // ---- npx from that folder finds the installed bin
  const npx = await run('npx', ['--no-install', pkg.name, '--version'], { cwd: app, env })
  t.is(npx.stderr.trim(), pkg.version)
  t.is(npx.stdout, '', 'stdout stays free for the protocol')
  t.log(`whole test ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return undefined
})
