import { InstallerError } from '../errors.ts';
import { listManagedBlocks } from './managed-block.ts';
import { startsWithPath, type TableHeader } from './toml-tables.ts';

// One handler belongs to one Shim, and shimkeeper never takes over a runtime it did not write
// unless the Shim says so (spec.runtimeClass.takeOverExistingHandler → --take-over-handler):
// - another Shim's block (or state.json record) defining the handler is refused, flag or not:
//   the second Shim would silently take over the first's, and uninstalling the first would
//   remove the second's;
// - containerd's default runtime (`default_runtime_name`, runc when unset) is refused without the
//   flag: replacing it changes the runtime of every pod on the node;
// - a hand-written stanza for the handler is refused without the flag; with it, the stanza is
//   replaced in place and put back byte for byte on uninstall.

const TAKE_OVER = "set the Shim's spec.runtimeClass.takeOverExistingHandler (--take-over-handler) to replace it on purpose, or choose another handler. Nothing was changed";

/** Refuses when a shimkeeper block of another shim defines the handler. */
export function checkOtherBlocks(text: string, options: { shim: string; handlerPath: string[]; file: string; headers: (text: string) => TableHeader[] }): void {
  const handler = options.handlerPath.at(-1)!;
  for (const block of listManagedBlocks(text)) {
    if (block.shim === options.shim) continue;
    const inside = text.slice(block.location.start, block.location.end);
    if (options.headers(inside).some((header) => startsWithPath(header.keyPath, options.handlerPath))) {
      throw new InstallerError(
        'HandlerTaken',
        `${options.file} already has runtime '${handler}' in the block shimkeeper manages for Shim ${block.shim}; one handler belongs to one Shim. ` +
          `Give this Shim another handler, or remove Shim ${block.shim} first. Nothing was changed`,
      );
    }
  }
}

/** Refuses a Shim whose handler another installed Shim on this node already uses (state.json). */
export function checkOtherShims(installed: Record<string, { handler: string; configPath: string }>, shim: string, handler: string): void {
  for (const [other, record] of Object.entries(installed)) {
    if (other !== shim && record.handler === handler) {
      throw new InstallerError('HandlerTaken', `Shim ${other} is installed on this node with handler '${handler}' (in ${record.configPath}); one handler belongs to one Shim. Give this Shim another handler, or remove Shim ${other} first. Nothing was changed`);
    }
  }
}

export function refuseUserStanza(file: string, handler: string, text: string, offset: number): never {
  const line = text.slice(0, offset).split('\n').length;
  throw new InstallerError('HandlerExists', `${file} already defines runtime '${handler}' (line ${line}), written by someone other than shimkeeper; ${TAKE_OVER}`);
}

/** Refuses taking over containerd's default runtime without the flag. `criTable` is the parsed `…cri.containerd` table (null for a template). */
export function checkDefaultRuntime(criTable: unknown, handler: string, file: string, takeOver: boolean): void {
  if (takeOver) return;
  const configured = typeof criTable === 'object' && criTable !== null ? (criTable as Record<string, unknown>)['default_runtime_name'] : undefined;
  const defaultRuntime = typeof configured === 'string' && configured !== '' ? configured : 'runc';
  if (handler !== defaultRuntime) return;
  throw new InstallerError(
    'HandlerExists',
    `handler '${handler}' is containerd's default runtime in ${file}${configured === undefined ? ' (runc, since default_runtime_name is not set)' : ''}; taking it over would change the runtime of every pod on the node. ${TAKE_OVER}`,
  );
}
