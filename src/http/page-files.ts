/**
 * Where the status page's static files are. tsc does not copy them into the build, so they are read from
 * `src/http/page/` of the package, found relative to this module wherever it was compiled to.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'

/** The page's files with their content types. */
export const PAGE_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const

export type PageFile = keyof typeof PAGE_FILES

/**
 * Folders that may hold the page, most specific first: beside this module (run from source or a copied
 * build), then `src/http/page/` seen from dist/http/ (npm package), .build/src/http/ (tests) and dist/ (bundle).
 */
export function pageDirCandidates(moduleUrl: string = import.meta.url): string[] {
  return ['./page/', '../../src/http/page/', '../../../src/http/page/', '../src/http/page/'].map((rel) => fileURLToPath(new URL(rel, moduleUrl)))
}

/** The first candidate holding index.html, or a message naming every folder tried. */
export function resolvePageDir(candidates: readonly string[] = pageDirCandidates()): E.Either<string, string> {
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')))
  return found !== undefined ? E.right(found) : E.left(`status page files not found (no index.html in ${candidates.join(', ')})`)
}

/** Reads the page's files from `dir`; a missing one is left out. */
export async function loadPageFiles(dir: string): Promise<Map<PageFile, Buffer>> {
  const files = new Map<PageFile, Buffer>()
  for (const name of Object.keys(PAGE_FILES) as PageFile[]) {
    try {
      files.set(name, await readFile(join(dir, name)))
    } catch {
      // served as 404 (index.html: the placeholder page)
    }
  }
  return files
}
