import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Verification } from '../../api/installer-contract.ts';
import { CriClient } from '../cri/cri-client.ts';
import { InstallerError } from '../errors.ts';

// "Ready" means a pod can run: after a change, the installer proves the handler the way the kubelet
// will use it. First, containerd's loaded config must hold the stanza shimkeeper wrote (a drop-in
// that also defines the handler wins on containerd 2.x, where imports merge field by field). Then a
// pod sandbox is started through the handler, with the sandbox image containerd is configured with,
// checked ready, and removed.

export interface HandlerExpectation {
  handler: string;
  runtimeType: string;
  runtimePath: string;
  /** The options as containerd parses them (typed TOML values); empty when none. */
  options: Record<string, unknown>;
  /** The file shimkeeper wrote the stanza into, for messages. */
  configPath: string;
}

export interface VerifyOptions {
  socketPathHere: string;
  timeoutMs: number;
  /** The shim's runtime options ask for systemd cgroups, so the sandbox needs a systemd slice as its parent. */
  systemdCgroup: boolean;
}

/** The runtime containerd loaded for `handler`, from the CRI plugin's config in the verbose Status. */
interface LoadedRuntime {
  runtimeType?: string;
  runtimePath?: string;
  options?: Record<string, unknown> | null;
}

export async function verifyHandler(expected: HandlerExpectation, options: VerifyOptions): Promise<Verification> {
  const started = Date.now();
  const cri = new CriClient(options.socketPathHere);
  try {
    checkLoadedRuntime(await loadedRuntime(cri, expected.handler), expected);
    await removeLeftoverSandboxes(cri, expected.handler);
    const provenAt = new Date().toISOString();
    const skipped = await startSandbox(cri, expected, options);
    return { ...(skipped === null ? { sandbox: 'started', provenAt } : { sandbox: 'skipped', reason: skipped }), ms: Date.now() - started };
  } finally {
    cri.close();
  }
}

async function loadedRuntime(cri: CriClient, handler: string): Promise<LoadedRuntime | null> {
  const status = await cri.status(10_000);
  const raw = status.info['config'];
  if (!raw) return null;
  const config = JSON.parse(raw) as { containerd?: { runtimes?: Record<string, LoadedRuntime> } };
  return config.containerd?.runtimes?.[handler] ?? null;
}

function checkLoadedRuntime(loaded: LoadedRuntime | null, expected: HandlerExpectation): void {
  const where = `containerd's loaded runtime '${expected.handler}'`;
  if (loaded === null) {
    throw new InstallerError('HandlerOverridden', `${where} is missing after the restart although ${expected.configPath} defines it: a file containerd reads after it replaces that section`);
  }
  const differences: string[] = [];
  if (loaded.runtimeType !== expected.runtimeType) differences.push(`runtime_type ${JSON.stringify(loaded.runtimeType ?? '')} (expected ${JSON.stringify(expected.runtimeType)})`);
  // containerd 1.6 reports no runtime_path when the stanza has none; ours always has one.
  if ((loaded.runtimePath ?? expected.runtimePath) !== expected.runtimePath) differences.push(`runtime_path ${JSON.stringify(loaded.runtimePath)} (expected ${JSON.stringify(expected.runtimePath)})`);
  if (!isDeepStrictEqual(loaded.options ?? {}, expected.options)) differences.push(`options ${JSON.stringify(loaded.options ?? {})} (expected ${JSON.stringify(expected.options)})`);
  if (differences.length > 0) {
    throw new InstallerError(
      'HandlerOverridden',
      `${where} has ${differences.join(', ')}: another file containerd reads (a drop-in in its imports) defines the same handler and wins over ${expected.configPath}; remove that definition or give the Shim another handler`,
    );
  }
}

/**
 * Starts a sandbox through the handler, checks it is ready and removes it. Returns null when it
 * ran, or why it could not be tried (containerd cannot get its sandbox image); a sandbox the
 * handler cannot start is ShimDoesNotStart with containerd's own words.
 */
async function startSandbox(cri: CriClient, expected: HandlerExpectation, options: VerifyOptions): Promise<string | null> {
  const uid = randomUUID();
  const config = {
    metadata: { name: `shimkeeper-verify-${expected.handler}`, uid, namespace: VERIFY_NAMESPACE, attempt: 0 },
    labels: VERIFY_LABELS,
    linux: {
      // The kubelet passes a slice under systemd cgroups and a path otherwise; runc refuses the other form.
      cgroup_parent: options.systemdCgroup ? 'shimkeeper.slice' : '/shimkeeper',
      // The node's network: proving the shim must not depend on the CNI plugin.
      security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  let sandboxId: string;
  try {
    ({ pod_sandbox_id: sandboxId } = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: expected.handler }, options.timeoutMs));
  } catch (error) {
    const message = (error as Error).message;
    if (SANDBOX_IMAGE_PROBLEM.test(message)) return `containerd could not get its sandbox image, so no sandbox was started: ${message}`;
    throw new InstallerError('ShimDoesNotStart', `containerd could not start a pod sandbox through handler '${expected.handler}' (runtime_type ${expected.runtimeType}): ${message}${optionsHint(message, expected)}`, { cause: error });
  }
  try {
    const { status } = await cri.call<{ status: { state: string } }>('PodSandboxStatus', { pod_sandbox_id: sandboxId }, 10_000);
    if (status.state !== 'SANDBOX_READY') {
      throw new InstallerError('ShimDoesNotStart', `the pod sandbox started through handler '${expected.handler}' is ${status.state}, not ready`);
    }
    return null;
  } finally {
    await removeSandbox(cri, sandboxId);
  }
}

/** Errors containerd gives when the sandbox image is missing and cannot be pulled: not the shim's fault. */
const SANDBOX_IMAGE_PROBLEM = /failed to get sandbox image|failed to pull (and unpack )?image|pull access denied|failed to resolve reference/i;

function optionsHint(message: string, expected: HandlerExpectation): string {
  if (!/runtimeoptions\.v1\.Options/.test(message) || Object.keys(expected.options).length === 0) return '';
  return (
    `. containerd passed the runtime options in its generic form, which this shim does not read: containerd sends runc's typed options ` +
    `only to a runtime named io.containerd.runc.v2 (a shim binary named containerd-shim-runc-v2, on containerd 1.7 or later)`
  );
}

const VERIFY_NAMESPACE = 'shimkeeper-verify';
const VERIFY_LABELS = { 'app.kubernetes.io/managed-by': 'shimkeeper' };

/**
 * Removes verification sandboxes for the handler that an earlier run left behind (it was killed
 * between starting and removing one): nobody else owns them, and they keep the shim binary busy.
 */
async function removeLeftoverSandboxes(cri: CriClient, handler: string): Promise<void> {
  const listed = await cri.call<{ items?: Array<{ id: string; metadata?: { name?: string; namespace?: string } }> }>('ListPodSandbox', { filter: { label_selector: VERIFY_LABELS } }, 10_000).catch(() => ({ items: [] }));
  const leftovers = (listed.items ?? []).filter((item) => item.metadata?.namespace === VERIFY_NAMESPACE && item.metadata?.name === `shimkeeper-verify-${handler}`);
  for (const leftover of leftovers) await removeSandbox(cri, leftover.id);
}

async function removeSandbox(cri: CriClient, sandboxId: string): Promise<void> {
  await cri.call('StopPodSandbox', { pod_sandbox_id: sandboxId }, 30_000).catch(() => {});
  await cri.call('RemovePodSandbox', { pod_sandbox_id: sandboxId }, 30_000).catch(() => {
    // A sandbox left behind is garbage the kubelet does not own; the next verification's
    // RunPodSandbox uses a new uid, so nothing collides with it.
  });
}
