/** The page's files: content types, security headers, the placeholder when they are missing, and the folder resolver. */
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { SECURITY_HEADERS } from '../../src/http/app.js'
import { MISSING_PAGE_HTML } from '../../src/http/page.js'
import { pageDirCandidates, resolvePageDir } from '../../src/http/page-files.js'
import { harness } from './harness.js'

const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"

async function pageDir(t: { teardown(f: () => Promise<void>): void }, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mqtt-mcp-page-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return dir
}

test('the page, its script and its style sheet are served with their content types and security headers', async (t) => {
  const dir = await pageDir(t, { 'index.html': '<!doctype html><title>x</title>', 'app.js': 'console.log(1)', 'style.css': 'body{}' })
  const h = await harness(t, { pageDir: dir })
  for (const [url, type, body] of [
    ['/', 'text/html; charset=utf-8', '<!doctype html><title>x</title>'],
    ['/app.js', 'text/javascript; charset=utf-8', 'console.log(1)'],
    ['/style.css', 'text/css; charset=utf-8', 'body{}'],
  ] as const) {
    const r = await h.inject(url)
    t.is(r.statusCode, 200, url)
    t.is(r.headers['content-type'], type, url)
    t.is(r.body, body, url)
    t.is(r.headers['content-security-policy'], CSP, url)
    t.is(r.headers['x-content-type-options'], 'nosniff', url)
    t.is(r.headers['referrer-policy'], 'no-referrer', url)
    t.is(r.headers['cache-control'], 'no-store', url)
  }
  t.is(SECURITY_HEADERS['content-security-policy'], CSP)
  const api = await h.inject('/api/status')
  t.is(api.headers['x-content-type-options'], 'nosniff')
  t.is(api.headers['cache-control'], 'no-store')
})

test('a missing page folder gives a placeholder page saying so, and the API still works', async (t) => {
  const dir = await pageDir(t, {})
  const h = await harness(t, { pageDir: dir })
  const r = await h.inject('/')
  t.is(r.statusCode, 200)
  t.is(r.body, MISSING_PAGE_HTML)
  t.regex(r.body, /missing/)
  t.is(r.headers['content-security-policy'], CSP)
  t.is((await h.inject('/app.js')).statusCode, 404)
  t.is((await h.inject('/health')).statusCode, 200)
})

test('resolvePageDir › finds the first folder with index.html and names every folder it tried otherwise', async (t) => {
  const empty = await pageDir(t, {})
  const full = await pageDir(t, { 'index.html': 'x' })
  t.deepEqual(resolvePageDir([empty, full]), E.right(full))
  const missing = resolvePageDir([empty, '/nowhere/at/all'])
  t.true(E.isLeft(missing))
  if (E.isLeft(missing)) {
    t.true(missing.left.includes(empty))
    t.true(missing.left.includes('/nowhere/at/all'))
  }
})

test('pageDirCandidates › reach src/http/page from dist/http and from .build/src/http', (t) => {
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  const want = join(root, 'src/http/page/')
  t.true(pageDirCandidates(new URL('dist/http/page.js', 'file://' + root).href).includes(want))
  t.true(pageDirCandidates(new URL('.build/src/http/page.js', 'file://' + root).href).includes(want))
  // and the tests' build finds this repository's page folder
  t.true(E.isRight(resolvePageDir()))
})
