/**
 * The page route group: `/`, `/app.js`, `/style.css`, read once at start-up. `/` takes the token from the query
 * like /ws (a browser cannot send headers when it navigates); the script and style sheet hold no data and are
 * public, since `<script src>` cannot carry a token. Security headers are set for every response in app.ts.
 */
import type { FastifyPluginAsync } from 'fastify'
import * as E from 'fp-ts/lib/Either.js'
import type { Logger } from '../log.js'
import { loadPageFiles, PAGE_FILES, resolvePageDir, type PageFile } from './page-files.js'

export interface PageOptions {
  readonly logger: Logger
  /** The page's folder (default: found by resolvePageDir). */
  readonly dir?: string | undefined
}

/** Shown at `/` when the page's files are missing (a partial install): plain HTML, nothing inline. */
export const MISSING_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bitsperity-mqtt-mcp</title></head>
<body><h1>bitsperity-mqtt-mcp</h1>
<p>The status page's files (src/http/page/) are missing from this installation. The JSON API works:
<a href="/api/status">/api/status</a>, <a href="/api/sessions">/api/sessions</a>, <a href="/api/tool-calls">/api/tool-calls</a>.</p>
</body></html>
`

const routes: ReadonlyArray<readonly [string, PageFile, string]> = [
  ['/', 'index.html', 'The status page (HTML; takes ?token= when a token is set)'],
  ['/app.js', 'app.js', "The status page's script"],
  ['/style.css', 'style.css', "The status page's style sheet"],
]

/** GET /, /app.js, /style.css from the page folder (read once), or the placeholder page. */
export const pageRoutes: FastifyPluginAsync<PageOptions> = async (http, o) => {
  const dir = o.dir !== undefined ? resolvePageDir([o.dir]) : resolvePageDir()
  if (E.isLeft(dir)) o.logger.warn(`${dir.left}; serving a placeholder page`)
  const files = E.isRight(dir) ? await loadPageFiles(dir.right) : new Map<PageFile, Buffer>()

  for (const [url, name, summary] of routes) {
    http.get(url, { config: { access: name === 'index.html' ? 'page' : 'public' }, schema: { tags: ['page'], summary } }, async (_req, reply) => {
      const body = files.get(name)
      if (body !== undefined) return reply.type(PAGE_FILES[name]).send(body)
      if (name === 'index.html') return reply.type(PAGE_FILES[name]).send(MISSING_PAGE_HTML)
      return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `${name} is missing from this installation.` } })
    })
  }
}
