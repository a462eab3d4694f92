// Every name the CRD accepts works everywhere it ends up, or the CRD refuses it. A Shim's name
// becomes node label and annotation keys, label values on the RuntimeClass and on installer Jobs,
// part of Job and Event names, and directory and file names on every node; handlers and RuntimeClass
// names end up in RuntimeClass objects and containerd's config. validateShim enforces exactly the
// CRD's rules (crd.test.ts, and the real API server in test/integration/shim-crd.test.ts).

import { describe, expect, it } from 'vitest';
import { buildShimCrd } from '../../src/api/crd.ts';
import { readyLabelKey, statusAnnotationKey } from '../../src/api/names.ts';
import { LIMITS, PATTERNS } from '../../src/api/shim.ts';
import { validateShim } from '../../src/api/validate.ts';
import { installerJobLabels, installerJobName, labelValueFor } from '../../src/controller/installer-job/identity.ts';
import { desiredRuntimeClass } from '../../src/controller/planner/runtime-class.ts';
import { eventName } from '../../src/controller/shell/apply.ts';
import { makeShim, revisionA } from './planner-fixtures.ts';
import { between, pick, random, stringOf } from './random.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = new RegExp(PATTERNS.dnsSubdomain);
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const NAME_MAX = 255; // bytes in one file name (ext4, xfs, btrfs)

function validLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? '' : key.slice(0, slash);
  const name = key.slice(slash + 1);
  if (name.length > 63 || !LABEL_NAME.test(name)) return false;
  return prefix === '' || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix) && prefix.split('.').every((part) => part.length <= 63));
}

function validLabelValue(value: string): boolean {
  return value.length <= 63 && (value === '' || LABEL_NAME.test(value));
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** The file names the installer creates on a node for a Shim (src/installer, read only here). */
function nodeFileNames(shim: string, revision: string, shimBinary: string): string[] {
  const stamp = new Date(0).toISOString().replace(/[:.]/g, '-');
  const configNames = ['config.toml', 'config.toml.tmpl', 'config-v3.toml.tmpl', 'containerd-template.toml', `shimkeeper-${shim}.toml`];
  const backups = configNames.map((config) => `${config}.${stamp}.${shim}.bak`);
  // Host.writeAtomic's temp file: `.<name>.shimkeeper-<8 hex>`, next to every file written atomically.
  const written = [...backups, ...configNames, 'state.json'];
  return [shim, revision, shimBinary, `${shimBinary}.partial`, ...written, ...written.map((name) => `.${name}.shimkeeper-0123abcd`)];
}

/** A name that is valid as often as not: DNS labels of every length near the limit, and near misses. */
function candidateName(rand: () => number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const length = pick(rand, [1, 2, between(rand, 3, 62), 63, 63, 64, between(rand, 65, 260)]);
  let name = stringOf(rand, `${alphabet}--`, length);
  name = `${stringOf(rand, alphabet, 1)}${name.slice(1, -1)}${length > 1 ? stringOf(rand, alphabet, 1) : ''}`.slice(0, length);
  if (rand() < 0.15) name = name.replace(/^(.)(.)/, '$1.'); // a subdomain, not a label
  if (rand() < 0.05) name = name.toUpperCase();
  return name;
}

describe('names the CRD accepts', () => {
  it('the CRD refuses at the root what validateShim refuses', () => {
    const rules = buildShimCrd().spec.versions[0]!.schema.openAPIV3Schema['x-kubernetes-validations']!;
    expect(rules.map((r) => r.rule).join(' ')).toContain(`self.metadata.name.size() <= ${LIMITS.shimName}`);
    expect(rules.map((r) => r.rule).join(' ')).toContain(`self.metadata.name.matches(r'${PATTERNS.dnsLabel}')`);
  });

  it.each(Array.from({ length: 20 }, (_, i) => i + 1))('seed %i: every accepted Shim name works in every place it goes', (seed) => {
    const rand = random(seed);
    let accepted = 0;
    for (let round = 0; round < 200; round++) {
      const name = candidateName(rand);
      const shim = makeShim({}, { name });
      if (validateShim(shim).length > 0) {
        // What is refused is refused for its name alone, and is what breaks somewhere.
        expect(name.length > 63 || !DNS_LABEL.test(name), name).toBe(true);
        continue;
      }
      accepted++;
      expect(validLabelKey(readyLabelKey(name)), readyLabelKey(name)).toBe(true);
      expect(validLabelKey(statusAnnotationKey(name)), statusAnnotationKey(name)).toBe(true);
      for (const [key, value] of Object.entries(desiredRuntimeClass(shim).labels)) expect(validLabelKey(key) && validLabelValue(value), `${key}=${value}`).toBe(true);
      for (const [key, value] of Object.entries(desiredRuntimeClass(shim).nodeSelector)) expect(validLabelKey(key) && validLabelValue(value), `${key}=${value}`).toBe(true);
      // Shim labels on Jobs are the name itself, not a hash, so `kubectl get jobs -l` finds them.
      expect(labelValueFor(name)).toBe(name);
      const node = pick(rand, ['n', `${'ip-10-0-0-1.'.repeat(20)}internal`.slice(0, 253)]);
      for (const action of ['install', 'uninstall'] as const) {
        const jobName = installerJobName(name, node, action, revisionA());
        expect(jobName.length <= 63 && DNS_LABEL.test(jobName), jobName).toBe(true);
        for (const [key, value] of Object.entries(installerJobLabels({ shim: name, node, action, revision: revisionA() }))) {
          expect(validLabelKey(key) && validLabelValue(value), `${key}=${value}`).toBe(true);
        }
      }
      for (const subject of [name, node]) {
        const event = eventName(subject);
        expect(event.length <= 253 && DNS_SUBDOMAIN.test(event), event).toBe(true);
      }
      const longestBinary = `containerd-shim-${'x'.repeat(LIMITS.shimBinary - 'containerd-shim--v2'.length)}-v2`;
      for (const file of nodeFileNames(name, revisionA(), longestBinary)) expect(bytes(file), file).toBeLessThanOrEqual(NAME_MAX);
    }
    expect(accepted).toBeGreaterThan(50);
  });

  it.each([
    ['a 63-character name', 'a'.repeat(63), true],
    ['a 64-character name', 'a'.repeat(64), false],
    ['a 194-character name (its backup file name would pass 255 bytes)', 'a'.repeat(194), false],
    ['a dotted name', 'spin.v2', false],
    ['the shortest name', 'a', true],
  ])('%s: accepted = %s', (_what, name, ok) => {
    expect(validateShim(makeShim({}, { name })).length === 0).toBe(ok);
  });

  it('every accepted handler and RuntimeClass name is valid on the RuntimeClass', () => {
    const rand = random(7);
    for (let round = 0; round < 500; round++) {
      const handler = candidateName(rand);
      const rcName = pick(rand, [candidateName(rand), `${candidateName(rand)}.${candidateName(rand)}`]);
      const shim = makeShim({ runtimeClass: { name: rcName, handler } });
      if (validateShim(shim).length > 0) continue;
      // RuntimeClass: name a DNS subdomain (≤ 253), handler a DNS label (≤ 63), also a bare TOML key.
      expect(rcName.length <= 253 && DNS_SUBDOMAIN.test(rcName), rcName).toBe(true);
      expect(handler.length <= 63 && DNS_LABEL.test(handler) && /^[A-Za-z0-9_-]+$/.test(handler), handler).toBe(true);
    }
  });
});
