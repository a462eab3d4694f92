import { KubeConfig } from '@kubernetes/client-node';
import { Agent } from 'node:https';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

/**
 * A KubeConfig whose API clients share one keep-alive HTTPS agent. @kubernetes/client-node 1.4
 * builds a new agent, and so a new TLS connection, for every request; at thousands of writes per
 * rollout the handshakes cost more than the API calls (measured in bench/controller.bench.ts).
 * The agent takes its TLS options (CA, client certificate) from the first request; tokens travel
 * in headers per request, so rotated service-account tokens keep working.
 */
export class KeepAliveKubeConfig extends KubeConfig {
  private sharedAgent: Agent | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    this.sharedAgent ??= new Agent({ ...(context.getAgent() as Agent | undefined)?.options, keepAlive: true, maxSockets: 32 });
    context.setAgent(this.sharedAgent);
  }
}
