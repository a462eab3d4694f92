import type { V1Lease } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiStatus, describeApiError } from './api-errors.ts';
import type { Logger } from '../log.ts';
import type { KubeClient } from './rest.ts';

// Leader election on a coordination.k8s.io Lease, as client-go does it: the leader renews the
// lease every retry period; a candidate takes it over only once it has not been renewed for the
// lease duration; every write is a compare-and-swap on resourceVersion, so two replicas can never
// both believe they won. A leader that cannot renew within the renew deadline stops leading.

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
}

export interface LeaderCallbacks {
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void;
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly options: Required<Omit<LeaderElectionOptions, 'client' | 'log'>> & { log: Logger };
  private leading = false;
  private stopped = false;
  private lastRenewed = 0;

  constructor(options: LeaderElectionOptions) {
    this.client = options.client;
    this.options = {
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Runs until stop(): tries to acquire, then renews; calls back on every change of leadership. */
  async run(callbacks: LeaderCallbacks): Promise<void> {
    const { log, retryPeriodMs, renewDeadlineMs } = this.options;
    while (!this.stopped) {
      let held = false;
      try {
        held = await this.tryAcquireOrRenew();
      } catch (error) {
        log.warn('lease request failed', { lease: this.options.name, error: describeApiError(error) });
      }
      if (held) {
        this.lastRenewed = Date.now();
        if (!this.leading) {
          this.leading = true;
          log.info('became leader', { lease: this.options.name, identity: this.options.identity });
          await callbacks.onStartedLeading();
        }
      } else if (this.leading && Date.now() - this.lastRenewed > renewDeadlineMs) {
        this.leading = false;
        log.warn('lost leadership', { lease: this.options.name });
        callbacks.onStoppedLeading();
      }
      await sleep(retryPeriodMs);
    }
  }

  /** Gives the lease up so a standby takes over at once rather than after the lease duration. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    // A renewal still in flight may bump the lease under us: re-read and try again.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      try {
        const lease = await this.client.call<V1Lease>('GET', this.leasePath());
        if (lease.spec?.holderIdentity !== this.options.identity) return;
        lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime() };
        await this.client.call('PUT', this.leasePath(), { body: lease });
        return;
      } catch (error) {
        if (apiStatus(error) === 409 && attempt < 3) continue;
        this.options.log.warn('could not release the lease', { error: describeApiError(error) });
        return;
      }
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.options;
    const now = microTime();
    let lease: V1Lease;
    try {
      lease = await this.client.call<V1Lease>('GET', this.leasePath());
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
      await this.client.call('POST', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = renewedAt + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < Date.now();
    if (holder && holder !== identity && !expired) return false;
    const takingOver = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      ...(takingOver ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      // The read's resourceVersion travels with the object: a concurrent writer makes this fail.
      await this.client.call('PUT', this.leasePath(), { body: lease });
      return true;
    } catch (error) {
      if (apiStatus(error) === 409) return false;
      throw error;
    }
  }

  private leasePath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases/${this.options.name}`;
  }
}

/** Now as a Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(): Date {
  // The API takes the string; the generated type says Date.
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}
