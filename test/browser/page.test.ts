/**
 * The status page in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) against
 * the built server started with `--demo --http-port 0`: sessions, tool calls, the live feed with its filter
 * and pause, the topic tree, and untrusted payloads shown as text. Skips when Chromium is not installed.
 *
 * PAGE_SCREENSHOT=/some/file.png keeps a full-page screenshot for a human to look at.
 */
import test, { type ExecutionContext } from 'ava'
import { existsSync } from 'node:fs'
import { chromium, type Page } from 'playwright-core'
import { ok, startStdioServer, type StdioServer } from '../helpers/mcp.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const XSS = '<img src=x onerror=alert(1)>'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The first JSON log line on the server's stderr that `match` accepts, waiting up to `timeoutMs`. */
async function logLine(server: StdioServer, match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (const text of server.stderr().split('\n')) {
      if (!text.startsWith('{')) continue
      try {
        const line = JSON.parse(text) as Record<string, unknown>
        if (match(line)) return line
      } catch {
        // a partial line: read it again next round
      }
    }
    if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; stderr:\n${server.stderr()}`)
    await sleep(50)
  }
}

/** The little of the DOM the page functions below use (the repo compiles without the DOM lib). */
interface Elem {
  readonly textContent: string | null
  querySelector(selector: string): Elem | null
}
interface Doc {
  querySelectorAll(selector: string): ArrayLike<Elem>
  getElementById(id: string): Elem | null
}

/** Topics of the rows in the live feed, newest first. */
const feedTopics = (page: Page): Promise<string[]> => page.locator('#feed-body .m-topic').allTextContents()

/** Waits until a feed row shows `topic` (and `payload`, when given) as text. */
function waitForRow(page: Page, topic: string, payload: string | undefined, timeoutMs: number): Promise<unknown> {
  return page.waitForFunction(
    ([t, p]) =>
      Array.from((globalThis as unknown as { document: Doc }).document.querySelectorAll('#feed-body tr')).some(
        (tr) => tr.querySelector('.m-topic')?.textContent === t && (p === undefined || tr.querySelector('.m-payload')?.textContent === p),
      ),
    [topic, payload] as const,
    { timeout: timeoutMs, polling: 50 },
  )
}

/** Chromium with a page that records dialogs, script errors and console errors (CSP violations among them). */
async function openBrowser(t: ExecutionContext): Promise<{ page: Page; dialogs: string[]; pageErrors: string[]; consoleErrors: string[] }> {
  // playwright-core starts Chromium with a fresh temporary profile (user-data-dir) of its own and removes it
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close()) // teardowns run last-in first-out: the browser closes before the server
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  const dialogs: string[] = []
  const pageErrors: string[] = []
  const consoleErrors: string[] = []
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
  page.on('pageerror', (e) => pageErrors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text())
  })
  return { page, dialogs, pageErrors, consoleErrors }
}

/** The status page's URL, from the server's "status page on …" log line. */
async function statusPageUrl(server: StdioServer): Promise<string> {
  const listening = await logLine(server, (l) => typeof l['msg'] === 'string' && l['msg'].includes('status page') && typeof l['url'] === 'string')
  return String(listening['url'])
}

/** True (after logging why) when Chromium is missing and the test should pass without running. */
function noChromium(t: ExecutionContext): boolean {
  if (existsSync(CHROMIUM)) return false
  t.log(`${CHROMIUM} is not installed: skipping the browser test`)
  t.pass()
  return true
}

test.serial('the status page shows sessions, tool calls and live messages, and renders hostile payloads as text', async (t) => {
  if (noChromium(t)) return

  const server = await startStdioServer(['--demo', '--http-port', '0'])
  t.teardown(() => server.close())
  const pageUrl = await statusPageUrl(server)
  t.regex(pageUrl, /^http:\/\/127\.0\.0\.1:\d+\/?$/)

  const { page, dialogs, pageErrors, consoleErrors } = await openBrowser(t)

  const response = await page.goto(pageUrl)
  t.is(response?.status(), 200)
  t.regex(response?.headers()['content-security-policy'] ?? '', /script-src 'self'/, 'the page is served with its CSP')
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 })
  t.is(await page.locator('#conn').textContent(), 'live')
  t.regex((await page.locator('#version').textContent()) ?? '', /^v\d+\.\d+\.\d+/)

  // the default session opens on the first tool call that uses it
  await ok(server.client, 'mqtt_publish_message', { topic: 'browser/hello', payload: 'hello from the browser test' })
  const card = page.locator('#sessions .session[data-state="connected"]').filter({ has: page.locator('.session-name', { hasText: /^default$/ }) })
  await card.waitFor({ timeout: 10_000 })
  t.regex((await card.textContent()) ?? '', /MQTT 3\.1\.1/, 'aedes speaks 3.1.1')

  // the tool-call log shows the publish, with its arguments
  const publishCall = page.locator('#calls .call[data-tool="mqtt_publish_message"][data-outcome="ok"]').first()
  await publishCall.waitFor({ timeout: 5_000 })
  t.regex((await publishCall.locator('.call-args').textContent()) ?? '', /browser\/hello/)

  // the feed flows (the demo fleet publishes all the time) …
  await page.locator('#feed-body tr').first().waitFor({ timeout: 10_000 })

  // … and a hostile payload shows up within 2 s, as text
  await ok(server.client, 'mqtt_publish_message', { topic: 'browser/xss', payload: XSS })
  await waitForRow(page, 'browser/xss', XSS, 2_000)
  t.true(((await page.locator('#feed').textContent()) ?? '').includes(XSS))
  t.is(await page.locator('#feed img').count(), 0, 'no img element in the feed')
  t.is(await page.locator('img').count(), 0, 'no img element anywhere')
  const newest = await page.locator('#calls .call').first().locator('.call-args pre').textContent()
  t.true((newest ?? '').includes(XSS), 'the tool-call args show the payload as text')

  // the topic tree of the session, with the hostile sample as text
  await card.locator('.session-head').click()
  await page.locator('#topics-section').waitFor({ state: 'visible' })
  await page.locator('#topics-tree .node-name', { hasText: /^xss$/ }).waitFor({ timeout: 8_000 })
  t.is(await page.locator('#topics-session').textContent(), 'default')
  t.is(await page.locator('#topics-tree img').count(), 0)
  t.regex((await page.locator('#topics-summary').textContent()) ?? '', /\d+ topics · \d+ messages/)

  const screenshot = process.env['PAGE_SCREENSHOT']
  if (screenshot !== undefined && screenshot !== '') {
    await page.screenshot({ path: screenshot, fullPage: true })
    t.log(`screenshot: ${screenshot}`)
  }

  // the filter narrows the feed: rows outside it go at once, new ones match it
  await page.locator('#filter').fill('browser/#')
  await page.locator('#filter').press('Enter')
  await page.waitForFunction(() => (globalThis as unknown as { document: Doc }).document.getElementById('active-filter')?.textContent === 'browser/#', undefined, { timeout: 5_000 })
  await ok(server.client, 'mqtt_publish_message', { topic: 'browser/filtered', payload: '42' })
  await waitForRow(page, 'browser/filtered', '42', 2_000)
  await ok(server.client, 'mqtt_publish_message', { topic: 'elsewhere/filtered', payload: 'hidden' })
  await sleep(1_200) // several feed frames of the demo fleet
  const narrowed = await feedTopics(page)
  t.true(narrowed.length > 0)
  t.deepEqual(
    narrowed.filter((topic) => !topic.startsWith('browser/')),
    [],
    'only topics under browser/ are shown',
  )

  // pause: messages keep arriving but wait, counted; resume shows them
  await page.locator('#pause').click()
  t.is(await page.locator('#pause').getAttribute('aria-pressed'), 'true')
  await ok(server.client, 'mqtt_publish_message', { topic: 'browser/paused', payload: 'later' })
  await page.waitForFunction(() => /^[1-9]\d* waiting/.test((globalThis as unknown as { document: Doc }).document.getElementById('waiting')?.textContent ?? ''), undefined, { timeout: 3_000 })
  t.false((await feedTopics(page)).includes('browser/paused'), 'nothing is rendered while paused')
  await page.locator('#pause').click()
  await waitForRow(page, 'browser/paused', 'later', 2_000)
  t.is(await page.locator('#waiting').textContent(), '')

  // the rate chart is drawn from the stats frames
  t.regex((await page.locator('#chart-legend').textContent()) ?? '', /^now [\d.,]+\/s/)

  // the topic panel closes and gives the focus back to its session
  await page.locator('#topics-close').click()
  t.false(await page.locator('#topics-section').isVisible())
  t.is(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { className: string } | null } }).document.activeElement?.className), 'session-head')

  // closing the session shows at once (session frame)
  const sessionId = await card.getAttribute('data-session-id')
  t.truthy(sessionId)
  await ok(server.client, 'mqtt_close_connection', { session_id: sessionId })
  await page.locator('#sessions .session[data-state="closed"] .badge', { hasText: 'closed' }).waitFor({ timeout: 5_000 })

  await sleep(300)
  t.deepEqual(dialogs, [], 'no dialog was opened')
  t.deepEqual(pageErrors, [], 'no script error')
  t.deepEqual(consoleErrors, [], 'no console error (CSP violations included)')
})

test.serial('with a token the page passes it on to the API and the live feed', async (t) => {
  if (noChromium(t)) return
  const token = 'browser-test-token'
  const server = await startStdioServer(['--http-port', '0'], { MQTT_MCP_HTTP_TOKEN: token })
  t.teardown(() => server.close())
  const pageUrl = await statusPageUrl(server)
  t.is((await fetch(pageUrl)).status, 401, 'the page needs the token')

  const { page, dialogs, pageErrors, consoleErrors } = await openBrowser(t)
  const withToken = new URL(pageUrl)
  withToken.searchParams.set('token', token)
  t.is((await page.goto(withToken.toString()))?.status(), 200)
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 }) // /ws?token=…
  // uptime and counts come from /api/status, fetched with Authorization: Bearer …
  await page.waitForFunction(() => /\d/.test((globalThis as unknown as { document: Doc }).document.getElementById('uptime')?.textContent ?? ''), undefined, { timeout: 5_000 })
  t.regex((await page.locator('#calls-count').textContent()) ?? '', /^0 tool calls/)
  t.is(await page.locator('#sessions-empty').isVisible(), true)
  t.deepEqual([...dialogs, ...pageErrors, ...consoleErrors], [])
})
