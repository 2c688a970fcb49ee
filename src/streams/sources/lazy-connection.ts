/**
 * The connection source, imported at the first connect: it brings mqtt.js and its stream, SOCKS and WebSocket
 * dependencies (about half a megabyte of code), which `initialize` does not need. A failed import (a broken
 * install) fails the connect with a tagged error, as sessions and the connection probe expect of their source.
 */
import { catchError, defer, switchMap, throwError, type Observable, type SchedulerLike } from 'rxjs'
import { fromUnknown } from '../../errors.js'
import type { ConnectOptions, Link, ProtocolVersion } from '../types.js'

/** `connectNegotiated` of ./connection.js, loading that module on first use. */
export const connectLazily = (
  opts: Omit<ConnectOptions, 'protocolVersion'> & { readonly protocolVersion: ProtocolVersion | 'auto' },
  scheduler: SchedulerLike,
): Observable<Link> =>
  defer(() => import('./connection.js')).pipe(
    catchError((e: unknown) => throwError(() => fromUnknown(e))),
    switchMap((m) => m.connectNegotiated(opts, scheduler)),
  )
