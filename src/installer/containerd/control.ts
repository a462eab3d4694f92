import type { RestartStrategy, Verification } from '../../api/installer-contract.ts';
import type { Host } from '../host.ts';
import type { ContainerdTarget } from './detect.ts';
import { waitForContainerd, type ContainerdHealth } from './health.ts';
import { restartContainerd } from './restart.ts';
import { verifyHandler, type HandlerExpectation } from './verify.ts';

// What install and uninstall do to the running containerd, behind one interface: the real one
// restarts and asks CRI; tests of the rollback paths pass their own and need no containerd.

export interface ContainerdControl {
  /** Restarts containerd so it loads its config as it is now. False when nothing was restarted (`--restart none`, k0s). */
  restart(): Promise<boolean>;
  /**
   * Waits until containerd answers CRI, is ready and, when a handler is named, has it loaded;
   * `stopIfAsked` (health.ts) may end the wait early. A rollback's wait passes none: it finishes.
   */
  waitHealthy(handler: string | null, stopIfAsked?: (where: string) => void): Promise<ContainerdHealth>;
  /** One look, no waiting: containerd's version and whether it has the handler; null when it does not answer. */
  look(handler: string): Promise<ContainerdHealth | null>;
  /** Proves the handler works: its loaded runtime is the expected one and a pod sandbox starts through it. */
  verify(expected: HandlerExpectation, systemdCgroup: boolean): Promise<Verification>;
}

export interface ControlOptions {
  restart: RestartStrategy;
  healthTimeoutMs: number;
  /** Where to look for processes: the host's /proc when the pod runs with hostPID. */
  procRoot?: string | undefined;
}

export function controlContainerd(host: Host, target: ContainerdTarget, options: ControlOptions): ContainerdControl {
  const socketPathHere = () => host.path(target.socketPath);
  return {
    async restart() {
      const outcome = await restartContainerd({ strategy: options.restart, host, target, procRoot: options.procRoot });
      return outcome.method !== 'none';
    },
    async waitHealthy(handler, stopIfAsked) {
      return waitForContainerd({ socketPathHere: await socketPathHere(), handler, timeoutMs: options.healthTimeoutMs, stopIfAsked });
    },
    async look(handler) {
      return waitForContainerd({ socketPathHere: await socketPathHere(), handler, timeoutMs: 0 }).catch(() => null);
    },
    async verify(expected, systemdCgroup) {
      return verifyHandler(expected, { socketPathHere: await socketPathHere(), timeoutMs: options.healthTimeoutMs, systemdCgroup });
    },
  };
}
