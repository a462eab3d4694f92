import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '../cri/cri-client.ts';
import { InstallerError } from '../errors.ts';

// "containerd came back" means: its socket answers CRI, the runtime reports ready, and the CRI
// plugin's loaded config has (or, after uninstall, no longer needs) the handler.

export interface HealthExpectation {
  /** containerd's socket as this process reaches it (the host's socket through Host.path()). */
  socketPathHere: string;
  /** The handler that must be loaded; null when only readiness matters. */
  handler: string | null;
  timeoutMs: number;
  /**
   * Called before each try; throws to stop waiting (the installer asked to stop, termination.ts):
   * a containerd that does not come back would otherwise hold the run past the kubelet's grace
   * period, which then kills it before it could roll back.
   */
  stopIfAsked?: ((where: string) => void) | undefined;
}

export interface ContainerdHealth {
  version: string;
  handlerLoaded: boolean | null;
}

export async function waitForContainerd(expectation: HealthExpectation): Promise<ContainerdHealth> {
  const deadline = Date.now() + expectation.timeoutMs;
  let lastProblem = 'no answer yet';
  for (let attempt = 0; attempt === 0 || Date.now() < deadline; attempt += 1) {
    expectation.stopIfAsked?.(`while waiting for containerd at ${expectation.socketPathHere} to come back (${lastProblem})`);
    const client = new CriClient(expectation.socketPathHere);
    try {
      const version = await client.version(2_000);
      const status = await client.status(5_000);
      const runtimeReady = status.status.conditions.find((c) => c.type === 'RuntimeReady');
      if (!runtimeReady?.status) {
        lastProblem = `CRI reports RuntimeReady=false (${runtimeReady?.reason ?? 'no condition'})`;
      } else {
        const handlerLoaded = expectation.handler === null ? null : handlerInLoadedConfig(status.info, expectation.handler);
        if (handlerLoaded !== false) return { version: version.runtime_version, handlerLoaded };
        if (expectation.timeoutMs === 0) return { version: version.runtime_version, handlerLoaded };
        lastProblem = `containerd is up but its CRI plugin has no runtime handler '${expectation.handler}'`;
      }
    } catch (error) {
      lastProblem = (error as Error).message;
    } finally {
      client.close();
    }
    if (Date.now() < deadline) await sleep(250);
  }
  throw new InstallerError('ContainerdUnhealthy', `containerd at ${expectation.socketPathHere} is not healthy after ${expectation.timeoutMs} ms: ${lastProblem}`);
}

/** Reads the CRI plugin's effective config from the verbose Status info, when containerd provides it. */
function handlerInLoadedConfig(info: Record<string, string>, handler: string): boolean | null {
  const raw = info['config'];
  if (!raw) return null;
  try {
    const config = JSON.parse(raw) as { containerd?: { runtimes?: Record<string, unknown> } };
    return Boolean(config.containerd?.runtimes?.[handler]);
  } catch {
    return null;
  }
}
