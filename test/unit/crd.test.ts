import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildShimCrd, type SchemaProps } from '../../src/api/crd.ts';
import { PATTERNS } from '../../src/api/shim.ts';
import { MESSAGES } from '../../src/api/validate.ts';
import { renderManifests, toYaml } from '../../scripts/generate-manifests.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A reader for the YAML subset toYaml writes (block maps and sequences, plain and JSON-quoted
 * scalars), independent of the writer, so the test proves the file means the object.
 */
function readYaml(text: string): unknown {
  const lines = text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .map((line) => ({ indent: line.length - line.trimStart().length, text: line.trimStart() }));
  let at = 0;

  const scalar = (raw: string): unknown => {
    if (raw.startsWith('"')) return JSON.parse(raw);
    if (raw === 'true' || raw === 'false') return raw === 'true';
    if (raw === 'null') return null;
    if (raw === '[]') return [];
    if (raw === '{}') return {};
    if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
    return raw;
  };
  const splitKey = (text: string): { key: string; rest: string } | null => {
    let key: string;
    let after: string;
    if (text.startsWith('"')) {
      let end = 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (end >= text.length) return null;
      key = JSON.parse(text.slice(0, end + 1));
      after = text.slice(end + 1);
    } else {
      const colon = text.search(/:( |$)/);
      if (colon < 0) return null;
      key = text.slice(0, colon);
      after = text.slice(colon);
    }
    if (!after.startsWith(':')) return null;
    return { key, rest: after.slice(1).trim() };
  };
  const block = (indent: number): unknown => {
    if (lines[at]!.text.startsWith('- ')) {
      const list: unknown[] = [];
      while (at < lines.length && lines[at]!.indent === indent && lines[at]!.text.startsWith('- ')) {
        const content = lines[at]!.text.slice(2);
        if (splitKey(content)) {
          lines[at] = { indent: indent + 2, text: content };
          list.push(block(indent + 2));
        } else {
          list.push(scalar(content));
          at++;
        }
      }
      return list;
    }
    const map: Record<string, unknown> = {};
    while (at < lines.length && lines[at]!.indent === indent && !lines[at]!.text.startsWith('- ')) {
      const entry = splitKey(lines[at]!.text);
      if (!entry) throw new Error(`not a key: ${lines[at]!.text}`);
      at++;
      if (entry.rest !== '') map[entry.key] = scalar(entry.rest);
      else if (lines[at]!.indent > indent || lines[at]!.text.startsWith('- ')) map[entry.key] = block(lines[at]!.indent);
      else throw new Error(`no value for ${entry.key}`);
    }
    return map;
  };
  const value = block(0);
  if (at !== lines.length) throw new Error(`unread line: ${lines[at]!.text}`);
  return value;
}

function walk(schema: SchemaProps, path: string, visit: (schema: SchemaProps, path: string) => void): void {
  visit(schema, path);
  for (const [name, child] of Object.entries(schema.properties ?? {})) walk(child, `${path}.${name}`, visit);
  if (schema.items) walk(schema.items, `${path}[]`, visit);
  if (schema.additionalProperties) walk(schema.additionalProperties, `${path}{}`, visit);
}

describe('manifests/crd.yaml', () => {
  it('is exactly what scripts/generate-manifests.ts writes (run it after changing src/api/crd.ts)', () => {
    for (const [path, content] of renderManifests()) {
      expect(readFileSync(`${root}${path}`, 'utf8'), path).toBe(content);
    }
  });

  it('reads back as the CRD object', () => {
    expect(readYaml(readFileSync(`${root}manifests/crd.yaml`, 'utf8'))).toEqual(JSON.parse(JSON.stringify(buildShimCrd())));
  });
});

describe('toYaml', () => {
  it('quotes whatever a YAML reader could misread', () => {
    const value = {
      plain: 'hello world',
      bool: 'true',
      yes: 'yes',
      number: '42',
      colon: 'a: b',
      hash: 'a #b',
      lead: '-x',
      empty: '',
      multi: 'a\nb',
      backslash: 'a\\.b',
      'weird key': 1,
      list: [1, 'two', { three: 3, four: [true, null] }, [], {}],
    };
    expect(readYaml(toYaml(value))).toEqual(value);
    expect(toYaml({ a: 'true' })).toBe('a: "true"\n');
    expect(toYaml({ a: 'spin' })).toBe('a: spin\n');
  });
});

describe('the Shim CRD', () => {
  const crd = buildShimCrd();
  const version = crd.spec.versions[0]!;
  const schema = version.schema.openAPIV3Schema;
  const spec = schema.properties!.spec!;
  const fetch = spec.properties!.fetchStrategy!;

  it('names the resource as DESIGN.md fixes it', () => {
    expect(crd.metadata.name).toBe('shims.runtime.shimkeeper.dev');
    expect(crd.spec).toMatchObject({ group: 'runtime.shimkeeper.dev', scope: 'Cluster', names: { kind: 'Shim', plural: 'shims', singular: 'shim' } });
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
  });

  it('prints RuntimeClass, Version, Ready, Nodes, then up-to-date, failed and the rollout state like a Deployment, and Age; the problem under -o wide', () => {
    expect(version.additionalPrinterColumns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['RuntimeClass', '.spec.runtimeClass.name'],
      ['Version', '.spec.version'],
      ['Ready', '.status.nodesReady'],
      ['Nodes', '.status.nodes'],
      ['Up-to-date', '.status.nodesUpdated'],
      ['Failed', '.status.nodesFailed'],
      ['Rollout', '.status.conditions[?(@.type=="Progressing")].reason'],
      ['Age', '.metadata.creationTimestamp'],
      ['Message', '.status.conditions[?(@.type=="Degraded")].message'],
    ]);
    expect(version.additionalPrinterColumns.find((c) => c.name === 'Message')?.priority).toBe(1);
  });

  it('keeps the upstream field names', () => {
    expect(Object.keys(spec.properties!)).toEqual(
      expect.arrayContaining(['nodeSelector', 'fetchStrategy', 'runtimeClass', 'rolloutStrategy', 'containerdRuntimeOptions']),
    );
    expect(fetch.properties!.anonHttp!.properties!.location).toBeDefined();
    expect(Object.keys(fetch.properties!.platforms!.items!.properties!)).toEqual(['os', 'arch', 'location', 'sha256']);
    expect(spec.properties!.rolloutStrategy!.properties!.rolling!.properties!.maxUpdate!['x-kubernetes-int-or-string']).toBe(true);
  });

  it("accepts runtime-class-manager's old spellings, marked deprecated for kubectl explain", () => {
    expect(fetch.properties!.type!.enum).toEqual(['anonymousHttp', 'annonymousHttp']);
    expect(fetch.properties!.type!.description).toMatch(/annonymousHttp .* is a deprecated alias/);
    expect(spec.properties!.runtimeOptions!.description).toMatch(/^Deprecated: .*Use containerdRuntimeOptions\.$/);
    expect(spec.properties!.runtimeOptions!.additionalProperties).toEqual(spec.properties!.containerdRuntimeOptions!.additionalProperties);
    expect(spec.properties!.runtimeClass!.properties!.adoptExisting!.type).toBe('boolean');
    expect(spec.properties!.nodeSelector!.description).toContain('kubernetes.io/os: linux');
    expect(schema.properties!.status!.properties!.versions!.items!.required).toEqual(['revision', 'nodes']);
  });

  it('shares patterns and messages with validate.ts', () => {
    expect(fetch.properties!.anonHttp!.properties!.sha256!.pattern).toBe(PATTERNS.sha256);
    expect(fetch.properties!.anonHttp!.properties!.location!.pattern).toBe(PATTERNS.location);
    expect(spec.properties!.runtimeClass!.properties!.handler!.pattern).toBe(PATTERNS.dnsLabel);
    expect(spec.properties!.runtimeClass!.properties!.name!.pattern).toBe(PATTERNS.dnsSubdomain);
    const messages = new Set<string>();
    walk(schema, '', (node) => node['x-kubernetes-validations']?.forEach((rule) => messages.add(rule.message)));
    for (const message of [MESSAGES.fetchSource, MESSAGES.anonHttpSha256, MESSAGES.platformSha256, MESSAGES.uniquePlatforms, MESSAGES.intOrPercent, MESSAGES.shimName, MESSAGES.defaultHandler, MESSAGES.runtimeOptionsAlias]) {
      expect(messages).toContain(message);
    }
    expect(fetch.properties!.platforms!['x-kubernetes-validations']![0]!.rule).toContain("'x86_64' ? 'amd64'");
  });

  it('is a structural schema whose CEL rules have bounded cost', () => {
    walk(schema, 'root', (node, path) => {
      if (node['x-kubernetes-int-or-string']) expect(node.type, path).toBeUndefined();
      else expect(node.type, path).toBeDefined();
      for (const name of node.required ?? []) expect(node.properties?.[name], `${path} requires ${name}`).toBeDefined();
      if (node.type === 'array') expect(node.items, path).toBeDefined();
      for (const rule of node['x-kubernetes-validations'] ?? []) {
        expect(rule.message, path).not.toMatch(/\n/);
        expect(rule.rule.split('(').length, `${path}: ${rule.rule}`).toBe(rule.rule.split(')').length);
      }
    });
    // Strings, lists and maps under spec that CEL walks are bounded, so the API server accepts the rules.
    walk(spec, 'spec', (node, path) => {
      if (node.type === 'string' && !node.enum) expect(node.maxLength, path).toBeDefined();
      if (node.type === 'array') expect(node.maxItems, path).toBeDefined();
      if (node.type === 'object' && node.additionalProperties) expect(node.maxProperties, path).toBeDefined();
    });
  });
});
