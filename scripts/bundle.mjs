// `npm run bundle`: dist/ from src/ with esbuild (npm run build type-checks first).
// One ESM bundle starts in about a third of the time of node_modules loaded file by file; it is split into
// chunks so that what `initialize` does not need (status server, Streamable HTTP, demo broker) is read only
// when it starts. Measured choices are in README "Benchmarks" (startup, memory).
import { rmSync } from 'node:fs'
import { build } from 'esbuild'

rmSync('dist', { recursive: true, force: true })
await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  splitting: true,
  outdir: 'dist',
  chunkNames: '[name]-[hash]',
  // names are kept so stack traces stay readable; whitespace and syntax minifying cost nothing to read
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
  sourcesContent: false,
  // one non-Latin-1 character in a licence comment makes V8 keep the whole chunk's source at two bytes a char
  legalComments: 'external',
  logLevel: 'warning',
  // they read files beside their own code (swagger-ui's static assets)
  external: ['@fastify/swagger', '@fastify/swagger-ui'],
  // the ES-module builds, so that what is not used is left out
  alias: {
    rxjs: './node_modules/rxjs/dist/esm/index.js',
    'io-ts': './node_modules/io-ts/es6/index.js',
    'fp-ts/lib': 'fp-ts/es6',
  },
  // bundled CommonJS dependencies call require(): give the ESM bundle one
  banner: { js: "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);" },
})
