import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed Kubernetes API call, if it was one. */
export function apiStatus(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** A one-line description of a failed call: the API's own Status message rather than the client's dump. */
export function describeApiError(error: unknown): string {
  if (!(error instanceof ApiException)) return error instanceof Error ? error.message : String(error);
  const body: unknown = typeof error.body === 'string' ? safeJson(error.body) : error.body;
  const status = body && typeof body === 'object' ? (body as { reason?: string; message?: string }) : {};
  return `${error.code}${status.reason ? ` ${status.reason}` : ''}: ${status.message ?? String(error.body).slice(0, 300)}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
