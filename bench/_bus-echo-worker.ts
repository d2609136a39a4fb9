// The worker-thread service module of bench/bus.ts: replies with the request's data.
import type { ServiceRequest } from 'purser';

export default function echo(request: ServiceRequest): unknown {
  return request.data;
}
