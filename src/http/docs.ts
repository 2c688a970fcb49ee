/**
 * The API docs: an OpenAPI 3.0 description of every route, built by @fastify/swagger from the routes' declared
 * schemas (registered before the route groups, so it sees each of them), and Swagger UI at `/docs` with the
 * JSON at `/docs/json`. Same guard as every route: `/docs` takes `?token=` like the page, `/docs/json` and
 * `/docs/yaml` need the header, and Swagger UI's bundled scripts and styles (no data in them, loaded by
 * `<script src>` and `<link href>`, which cannot carry a token) are public.
 *
 * Swagger UI runs under the page's own CSP, unrelaxed: @fastify/swagger-ui 6 serves its initializer as a file
 * (no inline script), Swagger UI 5 sets styles through the DOM (no inline style attribute or element), and its
 * icons are data: images, which the CSP already allows. So no `staticCSP` here; test/http/docs-browser checks
 * it in Chromium with every operation open and a request sent.
 */
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync, FastifySchema } from 'fastify'
import type { Access } from './guard.js'
import { sessionDetailSchema } from './schemas.js'

/** Where Swagger UI is served. */
export const DOCS_PREFIX = '/docs'

/** The groups the docs show routes under, in this order. */
export const DOCS_TAGS = [
  { name: 'status', description: 'Health and the JSON status API (what the page shows).' },
  { name: 'live feed', description: 'The /ws WebSocket feed: session events, tool calls, stats and message samples.' },
  { name: 'metrics', description: 'Prometheus metrics.' },
  { name: 'page', description: 'The status page and its static files.' },
  { name: 'mcp', description: 'Streamable HTTP MCP for remote clients (with --transport http or both).' },
] as const

/** The access a Swagger UI route needs: the UI page like the status page, its static files none, the spec the header. */
export function docsAccess(url: string): Access {
  if (url === DOCS_PREFIX || url === `${DOCS_PREFIX}/`) return 'page'
  if (url.startsWith(`${DOCS_PREFIX}/static/`)) return 'public'
  return 'api'
}

const securityOf = (access: Access): FastifySchema['security'] =>
  access === 'public' ? [] : access === 'page' ? [{ bearer: [] }, { query_token: [] }] : [{ bearer: [] }]

/** @fastify/swagger's options: the document's info, tags and token schemes; each route's security follows its access. */
export function openApiOptions(version: string): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'bitsperity-mqtt-mcp status server',
        version,
        description:
          'The status API, live feed, metrics and remote MCP of bitsperity-mqtt-mcp. Every route checks Host and Origin; ' +
          'when MQTT_MCP_HTTP_TOKEN is set, routes need `Authorization: Bearer <token>` (the page, /docs and /ws also take `?token=`).',
      },
      tags: DOCS_TAGS.map((t) => ({ ...t })),
      components: {
        // a response schema's own `definitions` are dropped by @fastify/swagger: its `#/definitions/…` refs point here
        // (the `as const` schemas are readonly, the OpenAPI types are not)
        schemas: { ...sessionDetailSchema.definitions } as Record<string, object>,
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'MQTT_MCP_HTTP_TOKEN (needed only when it is set).' },
          query_token: { type: 'apiKey', in: 'query', name: 'token', description: 'MQTT_MCP_HTTP_TOKEN in the URL, for a browser navigation or WebSocket.' },
        },
      },
    },
    transform: ({ schema, url, route }) => ({
      // @fastify/websocket hides its routes; /ws is documented as the GET it is
      schema: { ...schema, security: securityOf(route.config?.access ?? 'api'), ...(route.websocket === true ? { hide: false } : {}) },
      url,
    }),
  }
}

/**
 * Requests Swagger UI makes carry the page's `?token=` as a bearer header (the spec at ./json and "Try it
 * out"), same origin only. The spec URL is rebuilt too: swagger-ui-initializer appends `./json` to the whole
 * href, query included, which breaks once the URL holds `?token=`. Serialized into the initializer script by
 * @fastify/swagger-ui, so it must not close over anything.
 */
function requestInterceptor(req: SwaggerUiRequest): SwaggerUiRequest {
  const here = new URL(window.location.href)
  if (req.loadSpec === true) req.url = new URL('json', here.origin + here.pathname.replace(/\/?$/, '/')).href
  const token = here.searchParams.get('token')
  const headers = (req.headers ??= {})
  if (token !== null && token !== '' && new URL(req.url ?? '', here).origin === here.origin && headers['Authorization'] === undefined) {
    headers['Authorization'] = `Bearer ${token}`
  }
  return req
}

/** The part of a Swagger UI request the interceptor touches. */
interface SwaggerUiRequest {
  url?: string
  headers?: Record<string, string>
  /** True on the request for the OpenAPI document itself. */
  loadSpec?: boolean
}

// the interceptor runs in the browser; this module only needs the name to type-check
declare const window: { location: { href: string } }

/** GET /docs (Swagger UI), /docs/json and /docs/yaml (the OpenAPI document), /docs/static/* (Swagger UI's files). */
export const docsRoutes: FastifyPluginAsync = async (http) => {
  // Swagger UI's routes are declared by the plugin, so their access is set here as they are added
  http.addHook('onRoute', (route) => {
    route.config = { ...route.config, access: docsAccess(route.url ?? route.path) }
  })
  await http.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    // BaseLayout: no top bar, so no box that would show the spec URL (and the token) or load another spec
    uiConfig: { layout: 'BaseLayout', deepLinking: true, requestInterceptor },
    theme: { title: 'bitsperity-mqtt-mcp API' },
  })
}
