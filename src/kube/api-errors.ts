import { ApiError } from './rest.ts';

/** The HTTP status of a failed Kubernetes API call, if it was one. */
export function apiStatus(error: unknown): number | undefined {
  return error instanceof ApiError ? error.code : undefined;
}

/** A one-line description of a failed call: the API's own Status reason and message. */
export function describeApiError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
