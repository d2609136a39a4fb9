/** The bus's argument checks, shared by the registry and the request path: every failure is TPEINVAL. */
import { XatmiError } from './errors.js';
import { TIMEOUT_MS_MAX } from './interfaces.js';

export const SERVICE_NAME_LENGTH_MAX = 127;
const SERVICE_NAME = /^[A-Za-z0-9_.:@/-]+$/;

export function checkServiceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > SERVICE_NAME_LENGTH_MAX || !SERVICE_NAME.test(name)) {
    throw invalid(`service name must be 1 to ${SERVICE_NAME_LENGTH_MAX} characters of letters, digits and _.:@/-, got ${typeof name === 'string' ? JSON.stringify(name) : typeof name}`);
  }
}

export function isCount(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

export function isTimeout(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= TIMEOUT_MS_MAX;
}

export function invalid(message: string): XatmiError {
  return new XatmiError('TPEINVAL', message);
}
