/**
 * A throw-away PKI for TLS tests, made with the `openssl` command: one CA, then server and client certificates
 * signed by it (EC P-256 keys by default: fast even on 2 cores). Files live in a fresh temp dir readable by
 * Mosquitto after it drops privileges (0755 / 0644), removed by `close()` or when the process exits.
 *
 *   const pki = await createPki()
 *   const server = await pki.issue('server', { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'] })
 *   const broker = await startMosquitto({ extraConfig: tlsListener(port, { ca: pki.ca.cert, ...server }) })
 */
import { execFile } from 'node:child_process'
import { accessSync, constants as fsConstants, rmSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

let opensslCache: { path: string | undefined } | undefined

/** The `openssl` binary on PATH (or /usr/bin), or undefined when it is not installed. */
export function opensslPath(): string | undefined {
  if (opensslCache === undefined) {
    const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), '/usr/bin', '/usr/local/bin']
    let found: string | undefined
    for (const dir of dirs) {
      try {
        accessSync(join(dir, 'openssl'), fsConstants.X_OK)
        found = join(dir, 'openssl')
        break
      } catch {
        // not here
      }
    }
    opensslCache = { path: found }
  }
  return opensslCache.path
}

/** File paths of a certificate and its private key. */
export interface CertFiles {
  readonly cert: string
  readonly key: string
}

export interface IssueOptions {
  /** Subject common name. */
  readonly cn: string
  /** subjectAltName entries, e.g. `['DNS:localhost', 'IP:127.0.0.1']`. */
  readonly san?: readonly string[]
  /** Validity in days (default 2). A negative number makes a certificate that has already expired. */
  readonly days?: number
  /** `extendedKeyUsage = clientAuth` (a client certificate) instead of serverAuth. */
  readonly client?: boolean
  /** Encrypts the private key (AES-256, PKCS#8) with this passphrase. */
  readonly passphrase?: string
}

export interface Pki {
  readonly dir: string
  /** The CA certificate and key (paths). */
  readonly ca: CertFiles
  /** The CA certificate as PEM text. */
  readonly caPem: string
  /** Makes `<name>.key` and `<name>.crt` signed by this CA. */
  issue(name: string, opts: IssueOptions): Promise<CertFiles>
  /** A separate, self-signed CA nobody trusts (for "unknown CA" cases), in this dir. */
  otherCa(name: string, cn: string): Promise<CertFiles>
  /** Removes the dir; idempotent. */
  close(): Promise<void>
}

const liveDirs = new Set<string>()
let exitHookInstalled = false

function removeAllOnExit(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true })
      } catch {
        // best effort
      }
    }
  })
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']

/** A CA in a fresh temp dir. Rejects when openssl is not installed (check `opensslPath()` first). */
export async function createPki(caCn = 'bitsperity test CA'): Promise<Pki> {
  const openssl = opensslPath()
  if (openssl === undefined) throw new Error('openssl is not installed (check opensslPath() first)')
  removeAllOnExit()
  const dir = await mkdtemp(join(tmpdir(), 'mqtt-mcp-pki-'))
  liveDirs.add(dir)
  const run = async (...args: string[]): Promise<void> => {
    await execFileAsync(openssl, args, { cwd: dir })
  }
  const readable = async (...files: string[]): Promise<void> => {
    // Mosquitto started as root drops privileges before it reads these
    for (const f of files) await chmod(f, 0o644)
  }
  const selfSigned = async (name: string, cn: string): Promise<CertFiles> => {
    const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
    await run('req', '-x509', ...EC_KEY, '-nodes', '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${cn}`)
    await readable(files.cert, files.key)
    return files
  }
  try {
    await chmod(dir, 0o755)
    const ca = await selfSigned('ca', caCn)
    const caPem = await readFile(ca.cert, 'utf8')
    let serial = 1
    const issue = async (name: string, o: IssueOptions): Promise<CertFiles> => {
      const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
      const csr = join(dir, `${name}.csr`)
      const ext = join(dir, `${name}.ext`)
      if (o.passphrase === undefined) {
        await run('req', ...EC_KEY, '-nodes', '-keyout', files.key, '-out', csr, '-subj', `/CN=${o.cn}`)
      } else {
        // an encrypted PKCS#8 key, then the CSR signed with it
        await run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', `pass:${o.passphrase}`, '-out', files.key)
        await run('req', '-new', '-key', files.key, '-passin', `pass:${o.passphrase}`, '-out', csr, '-subj', `/CN=${o.cn}`)
      }
      const lines = [
        'basicConstraints=CA:FALSE',
        `extendedKeyUsage=${o.client === true ? 'clientAuth' : 'serverAuth'}`,
        ...(o.san !== undefined && o.san.length > 0 ? [`subjectAltName=${o.san.join(',')}`] : []),
      ]
      await writeFile(ext, lines.join('\n') + '\n')
      await run('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(serial++), '-out', files.cert, '-days', String(o.days ?? 2), '-extfile', ext)
      await readable(files.cert, files.key)
      return files
    }
    let closing: Promise<void> | undefined
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        liveDirs.delete(dir)
        await rm(dir, { recursive: true, force: true })
      })())
    return { dir, ca, caPem, issue, otherCa: selfSigned, close }
  } catch (err) {
    liveDirs.delete(dir)
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

export interface ListenerOptions {
  /** `require_certificate true`: clients must present a certificate signed by `ca`. */
  readonly requireClientCert?: boolean
}

/** mosquitto.conf lines for a TLS listener on 127.0.0.1:`port` (for `startMosquitto({ extraConfig })`). */
export function tlsListener(port: number, files: { ca: string; cert: string; key: string }, opts: ListenerOptions = {}): string[] {
  return [
    `listener ${port} 127.0.0.1`,
    `cafile ${files.ca}`,
    `certfile ${files.cert}`,
    `keyfile ${files.key}`,
    ...(opts.requireClientCert === true ? ['require_certificate true'] : []),
  ]
}
