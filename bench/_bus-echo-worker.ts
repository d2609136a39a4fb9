// The worker-thread service module of bench/bus.ts: replies with the request's data.
import type { ServiceRequest } from '../src/index.js';

export default function echo(request: ServiceRequest): unknown {
  return request.data;
}
