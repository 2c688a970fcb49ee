/**
 * Swagger UI at /docs in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core), with a
 * token set: the page opened with `?token=` loads the spec, shows every operation and sends "Try it out"
 * requests with the token, all under the page's CSP without a single violation. Skips when Chromium is not
 * installed.
 */
import test from 'ava'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { buildApp } from '../../src/http/app.js'
import { silentLogger } from '../../src/log.js'
import { VERSION } from '../../src/version.js'
import { startInProcess } from '../helpers/mcp.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const TOKEN = 'docs-browser-token-77aa'

/** Records every CSP violation from the first script on (the page itself has no DOM types here: plain text). */
const RECORD_VIOLATIONS = `
  globalThis.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => globalThis.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
`

test('Swagger UI › works under the CSP with ?token=: the spec loads, every operation shows, Try it out sends the token', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.log(`${CHROMIUM} is not installed: skipping the browser test`)
    t.pass()
    return
  }
  const mcp = await startInProcess()
  t.teardown(() => mcp.close())
  const http = buildApp({ app: mcp.app, logger: silentLogger, version: VERSION, host: '127.0.0.1', port: 0, token: TOKEN, allowedHosts: [] })
  t.teardown(() => http.close())
  await http.listen({ host: '127.0.0.1', port: 0 })
  const address = http.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`)
  })
  const statuses: string[] = []
  page.on('response', (r) => statuses.push(`${r.status()} ${new URL(r.url()).pathname}`))
  await page.addInitScript({ content: RECORD_VIOLATIONS })

  const response = await page.goto(`http://127.0.0.1:${port}/docs?token=${TOKEN}`)
  t.is(response?.status(), 200)
  // every route of this app: 5 status routes, /ws, /metrics and the page's 3 (no /mcp without the http transport)
  await page.waitForFunction('document.querySelectorAll(".opblock").length === 10', undefined, { timeout: 15_000 })
  t.true(statuses.includes('200 /docs/json'), statuses.join(', '))

  for (const summary of await page.locator('.opblock-summary').all()) await summary.click()
  const status = page.locator('.opblock', { hasText: '/api/status' }).first()
  await status.locator('button.try-out__btn').click()
  await status.locator('button.execute').click()
  await status.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor({ timeout: 10_000 })
  t.true(statuses.includes('200 /api/status'), 'the request carried the token')

  t.deepEqual(await page.evaluate('globalThis.__violations'), [], 'no CSP violation')
  t.deepEqual(problems, [])
})
