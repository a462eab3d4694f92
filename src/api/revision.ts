import { createHash } from 'node:crypto';

/** What one node gets for one Shim: exactly the inputs that, when changed, must reach the node. */
export interface RevisionInputs {
  url: string;
  sha256: string;
  handler: string;
  runtimeOptions: Record<string, string>;
  /** The shim's file name in the archive, when the Shim names one. */
  shimBinary?: string | undefined;
}

/**
 * A revision is a short, stable hash of what a node gets. The controller computes it to decide
 * whether a node is up to date; the installer computes the same value from its flags, so both
 * sides agree without the controller having to pass it. Version and display fields are
 * deliberately not part of it: changing them must not restart containerd anywhere.
 */
export function computeRevision(inputs: RevisionInputs): string {
  const options = Object.keys(inputs.runtimeOptions)
    .sort()
    .map((key) => [key, inputs.runtimeOptions[key]]);
  const parts: unknown[] = [inputs.url, inputs.sha256.toLowerCase(), inputs.handler, options];
  // Appended only when set, so revisions of Shims that do not name a binary stay as they were.
  if (inputs.shimBinary) parts.push(inputs.shimBinary);
  const canonical = JSON.stringify(parts);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 10);
}
