import type { Verification } from '../../../src/api/installer-contract.ts';
import type { ContainerdControl } from '../../../src/installer/containerd/control.ts';
import { InstallerError } from '../../../src/installer/errors.ts';

// A containerd for install/uninstall tests without a real one: records the config it was
// restarted on (read through `configText`), has loaded the handlers of the config it last started
// on (the one on disk when it was made, until a restart) and fails health checks as scripted.

/** A containerd whose health checks fail as scripted (by check number, from 1). */
export class ScriptedContainerd implements ContainerdControl {
  /** The config text at each restart. */
  readonly restartedOn: Array<string | null> = [];
  readonly healthChecks: Array<string | null> = [];
  private readonly unhealthy: (check: number) => boolean;
  private readonly onRestart: (restart: number) => void;

  private readonly configText: () => string | null;
  private startedOn: string | null;

  constructor(configText: () => string | null, script: { unhealthy?: (check: number) => boolean; onRestart?: (restart: number) => void } = {}) {
    this.configText = configText;
    this.startedOn = configText();
    this.unhealthy = script.unhealthy ?? (() => false);
    this.onRestart = script.onRestart ?? (() => {});
  }

  async restart(): Promise<boolean> {
    this.startedOn = this.configText();
    this.restartedOn.push(this.startedOn);
    this.onRestart(this.restartedOn.length);
    return true;
  }

  async waitHealthy(handler: string | null) {
    this.healthChecks.push(handler);
    if (this.unhealthy(this.healthChecks.length)) throw new InstallerError('ContainerdUnhealthy', `containerd is not healthy (check ${this.healthChecks.length})`);
    return { version: '1.7.0-test', handlerLoaded: handler === null ? null : true };
  }

  async look(handler: string) {
    const loaded = handler !== '' && [`runtimes.${handler}]`, `runtimes."${handler}"]`].some((table) => this.startedOn?.includes(table));
    return { version: '1.7.0-test', handlerLoaded: loaded };
  }

  async verify(): Promise<Verification> {
    return { sandbox: 'started', ms: 0 };
  }
}

