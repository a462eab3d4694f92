import { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

/**
 * A KubeConfig whose API clients share one keep-alive connection pool. @kubernetes/client-node 2.0
 * (like 1.4 with its https.Agent) builds a new undici Agent, and so a new TLS connection, for every
 * request; at thousands of writes per rollout the handshakes cost more than the API calls
 * (measured in bench/controller.bench.ts). The pool takes its TLS options (CA, client certificate)
 * from the first request; tokens travel in headers per request, so rotated service-account tokens
 * keep working.
 */
export class KeepAliveKubeConfig extends KubeConfig {
  private sharedDispatcher: Dispatcher | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const created = context.getDispatcher();
    if (!created) return;
    if (!this.sharedDispatcher) {
      this.sharedDispatcher = created;
      return;
    }
    if (created !== this.sharedDispatcher) void created.close();
    context.setDispatcher(this.sharedDispatcher);
  }
}
