/** `--demo` is for watching: its session opens at start-up, before any tool call, and stdout stays silent. */
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import test from 'ava'
import { mainPath } from '../helpers/mcp.js'

test('the demo session is on the status page before any tool call, and nothing reaches stdout before initialize', async (t) => {
  const child = spawn(process.execPath, [mainPath, '--demo', '--http-port', '0'], { env: { PATH: process.env['PATH'] ?? '' }, cwd: tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => void child.kill('SIGTERM'))
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  const deadline = Date.now() + 20_000
  let url: string | undefined
  let names: string[] = []
  while (Date.now() < deadline) {
    url ??= stderr.split('\n').filter((l) => l.includes('status page on')).map((l) => (JSON.parse(l) as { url: string }).url)[0]
    if (url !== undefined) {
      const body = (await (await fetch(new URL('/api/sessions', url))).json()) as { sessions: Array<{ name: string; state: string }> }
      names = body.sessions.filter((s) => s.state === 'connected').map((s) => s.name)
      if (names.length > 0) break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  t.deepEqual(names, ['default'])
  t.is(stdout, '', 'no notification before the client initialized')
})
