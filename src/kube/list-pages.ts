import type { KubernetesObject } from '@kubernetes/client-node';
import { ApiError, type KubeClient } from './rest.ts';

// A paginated LIST, as client-go's reflector makes it: a cluster of 10,000 realistic Nodes is over
// 100 MB of JSON, which one response would have to hold and parse at once. Pages of 100, not
// client-go's 500: parsed into JavaScript objects a page takes about five times its JSON size
// before it is slimmed, and that transient peak is the controller's resident memory afterwards.

export interface ListQuery {
  /** The collection's path, namespace included for namespaced kinds, e.g. `/api/v1/nodes`. */
  path: string;
  labelSelector?: string;
  /** Server-side field selector, e.g. `reason=FailedCreatePodSandBox` for Events. */
  fieldSelector?: string;
  /** Objects per LIST page (default LIST_PAGE_SIZE). */
  pageSize?: number;
}

export const LIST_PAGE_SIZE = 100;

interface ListPage<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/**
 * Lists the collection page by page, handing each page's items to `onPage`; returns the list's
 * resourceVersion (to watch from). A continue token that expired (410) restarts the list.
 */
export async function listPages<T extends KubernetesObject>(client: KubeClient, query: ListQuery, onPage: (items: T[]) => void, onRequest?: () => void): Promise<string | undefined> {
  let continueToken: string | undefined;
  for (;;) {
    onRequest?.();
    let page: ListPage<T>;
    try {
      page = await client.call<ListPage<T>>('GET', query.path, {
        query: { limit: String(query.pageSize ?? LIST_PAGE_SIZE), labelSelector: query.labelSelector, fieldSelector: query.fieldSelector, continue: continueToken },
      });
    } catch (error) {
      if (error instanceof ApiError && error.code === 410 && continueToken) {
        continueToken = undefined;
        continue;
      }
      throw error;
    }
    onPage(page.items ?? []);
    continueToken = page.metadata?.continue || undefined;
    if (!continueToken) return page.metadata?.resourceVersion;
  }
}
