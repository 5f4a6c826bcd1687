/**
 * The process log: JSON lines on standard error (pino), at the configured level. Callers log
 * what happened and where, never a message's credentials: the only SIP text that reaches the
 * log is a parse error's reason, which names a header, not its value.
 */
import { pino, type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(level: LogLevel, name = 'tidewater'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/**
 * The error sink every layer reports to: malformed input from the network is routine (debug),
 * a failure in our own code or a socket error is not (error).
 */
export function errorSink(log: Logger, where: string): (error: unknown, context?: string) => void {
  return (error, context) => {
    const e = error as { name?: string; message?: string; code?: string; stack?: string };
    const routine = e?.name === 'SipParseError' || e?.name === 'FramingError';
    const fields = { where, context, code: e?.code, err: routine ? undefined : e?.stack ?? String(error) };
    if (routine) log.debug(fields, e?.message ?? 'malformed input');
    else log.error(fields, e?.message ?? String(error));
  };
}

export type { Logger };
