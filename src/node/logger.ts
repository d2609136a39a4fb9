/**
 * Structured logs through pino: JSON lines for machines, or pino-pretty's colourised lines on a terminal.
 * pretty printing runs in-process and synchronously (not in a transport thread) so that the last lines
 * before an exit are never lost and appear in order.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

export function createLogger(options: { level: LogLevel; pretty: boolean | 'auto'; destination?: NodeJS.WritableStream }): Logger {
  const destination = options.destination ?? process.stdout;
  const isTerminal = (destination as { isTTY?: boolean }).isTTY === true;
  const usePretty = options.pretty === 'auto' ? isTerminal : options.pretty;
  const base = { level: options.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!usePretty) return pino(base, destination);
  return pino(base, pretty({ destination, sync: true, colorize: isTerminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
}
