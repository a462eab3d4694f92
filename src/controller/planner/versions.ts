// status.versions: which revision (and version) how many target nodes run. Pure, like status.ts,
// which puts it into the status it computes.

import rcompare from 'semver/functions/rcompare.js';
import valid from 'semver/functions/valid.js';
import { MAX_VERSIONS, type VersionSummary } from '../../api/shim.ts';
import { versionLabelValue } from './pass.ts';
import { memoizeByObject } from './memo.ts';
import type { NodeShimRecord } from './node-status.ts';
import { byName } from './model.ts';
import type { NodeOutcome } from './status.ts';

interface Run {
  revision: string;
  version?: string;
}

/** The revision a node runs, installed and working, with its version when the record knows it. */
function running(node: NodeOutcome): Run | undefined {
  return node.record ? runOfRecord(node.record) : undefined;
}

/** Every pass asks this of every node, whose records are shared between passes (node-status.ts). */
const runOfRecord = memoizeByObject(runOf);

function runOf(record: NodeShimRecord): Run | undefined {
  if (record.state === 'installed') return record.revision && !record.suspect ? { revision: record.revision, ...(record.version ? { version: record.version } : {}) } : undefined;
  // Installing or failed with the previous revision left working: that one still runs.
  return record.workingRevision ? { revision: record.workingRevision } : undefined;
}

function newestFirst(a: VersionSummary, b: VersionSummary): number {
  const [va, vb] = [valid(a.version ?? '', { loose: true }), valid(b.version ?? '', { loose: true })];
  if (va && vb) return rcompare(va, vb);
  return va ? -1 : vb ? 1 : 0;
}

/**
 * The version a node mid-upgrade still runs: its version label (set when that version was proven),
 * spelled as a node that has the revision installed reports it when the two agree (a label value
 * cannot hold `+`).
 */
function workingVersion(label: string | undefined, installedVersions: readonly string[]): string | undefined {
  if (label === undefined) return installedVersions.length === 1 ? installedVersions[0] : undefined;
  return installedVersions.find((version) => versionLabelValue(version) === label) ?? label;
}

/**
 * status.versions: per revision and version (a version-only change keeps the revision), the target
 * nodes running it; the desired revisions first, then the newest version, the most nodes, the
 * revision.
 */
export function versionsOf(nodes: readonly NodeOutcome[], desired: ReadonlySet<string>): VersionSummary[] {
  const installedVersions = new Map<string, string[]>();
  for (const node of nodes) {
    const run = node.target ? running(node) : undefined;
    if (!run?.version) continue;
    const known = installedVersions.get(run.revision);
    if (!known) installedVersions.set(run.revision, [run.version]);
    else if (!known.includes(run.version)) known.push(run.version);
  }
  /** revision → version ('' for none) → summary */
  const tally = new Map<string, Map<string, VersionSummary>>();
  for (const node of nodes) {
    const run = node.target ? running(node) : undefined;
    if (!run) continue;
    const version = run.version ?? workingVersion(node.versionLabel, installedVersions.get(run.revision) ?? []);
    let byVersion = tally.get(run.revision);
    if (!byVersion) tally.set(run.revision, (byVersion = new Map()));
    let entry = byVersion.get(version ?? '');
    if (!entry) byVersion.set(version ?? '', (entry = { ...(version ? { version } : {}), revision: run.revision, nodes: 0 }));
    entry.nodes += 1;
  }
  return [...tally.values()]
    .flatMap((byVersion) => [...byVersion.values()])
    .sort((a, b) => Number(desired.has(b.revision)) - Number(desired.has(a.revision)) || newestFirst(a, b) || b.nodes - a.nodes || byName(a.revision, b.revision))
    .slice(0, MAX_VERSIONS);
}
