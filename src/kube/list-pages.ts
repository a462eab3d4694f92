import { HttpMethod, RequestContext, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { fetch } from 'undici';

// A paginated LIST as client-go's reflector makes it (500 objects a page): a cluster of 10,000
// realistic Nodes is over 100 MB of JSON, which one response would have to hold and parse at once.
// The response is parsed as plain JSON (what a watch delivers too), not into client-node's model
// classes: the informer keeps only a slim part of each object anyway.

export interface ListQuery {
  /** The collection's path, namespace included for namespaced kinds, e.g. `/api/v1/nodes`. */
  path: string;
  labelSelector?: string;
  /** Server-side field selector, e.g. `reason=FailedCreatePodSandBox` for Events. */
  fieldSelector?: string;
  /** Objects per LIST page (default LIST_PAGE_SIZE). */
  pageSize?: number;
}

export const LIST_PAGE_SIZE = 500;

interface ListPage<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export class ListError extends Error {
  readonly statusCode: number;
  constructor(path: string, statusCode: number, body: string) {
    super(`LIST ${path}: ${statusCode} ${body.slice(0, 300)}`);
    this.statusCode = statusCode;
  }
}

/**
 * Lists the collection page by page, handing each page's items to `onPage`; returns the list's
 * resourceVersion (to watch from). A continue token that expired (410) restarts the list.
 */
export async function listPages<T extends KubernetesObject>(kc: KubeConfig, query: ListQuery, onPage: (items: T[]) => void, onRequest?: () => void): Promise<string | undefined> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('no current cluster in the kubeconfig');
  let continueToken: string | undefined;
  for (;;) {
    const url = new URL(server + query.path);
    url.searchParams.set('limit', String(query.pageSize ?? LIST_PAGE_SIZE));
    if (query.labelSelector) url.searchParams.set('labelSelector', query.labelSelector);
    if (query.fieldSelector) url.searchParams.set('fieldSelector', query.fieldSelector);
    if (continueToken) url.searchParams.set('continue', continueToken);
    const ctx = new RequestContext(url.toString(), HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    onRequest?.();
    const response = await fetch(url, { headers: { ...ctx.getHeaders(), accept: 'application/json' }, dispatcher: ctx.getDispatcher() });
    if (response.status !== 200) {
      const body = await response.text();
      if (response.status === 410 && continueToken) {
        continueToken = undefined;
        continue;
      }
      throw new ListError(query.path, response.status, body);
    }
    const page = (await response.json()) as ListPage<T>;
    onPage(page.items ?? []);
    continueToken = page.metadata?.continue || undefined;
    if (!continueToken) return page.metadata?.resourceVersion;
  }
}
