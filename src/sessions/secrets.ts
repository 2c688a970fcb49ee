/**
 * Credentials sealed with AES-256-GCM under a key that lives only in this process, so a heap dump, a debug
 * print or an accidental JSON.stringify of a session shows ciphertext, never a password.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/** A sealed secret. Its toJSON hides even the ciphertext. */
export class Sealed {
  constructor(
    readonly iv: Buffer,
    readonly tag: Buffer,
    readonly data: Buffer,
  ) {}
  toJSON(): string {
    return '***'
  }
  toString(): string {
    return '***'
  }
}

export interface Sealer {
  seal(plain: string): Sealed
  open(sealed: Sealed): string
}

/** A sealer with a fresh random 256-bit key (one per process). */
export function createSealer(key: Buffer = randomBytes(32)): Sealer {
  return {
    seal: (plain) => {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return new Sealed(iv, cipher.getAuthTag(), data)
    },
    open: (sealed) => {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv)
      decipher.setAuthTag(sealed.tag)
      return Buffer.concat([decipher.update(sealed.data), decipher.final()]).toString('utf8')
    },
  }
}

/** Seals when defined. */
export const sealOptional = (sealer: Sealer, plain: string | undefined): Sealed | undefined =>
  plain === undefined ? undefined : sealer.seal(plain)

/** Overwrites the ciphertext so the secret cannot be opened any more (session closed). */
export function wipe(sealed: Sealed | undefined): void {
  sealed?.data.fill(0)
  sealed?.tag.fill(0)
}
