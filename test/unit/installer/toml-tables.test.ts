import { describe, expect, it } from 'vitest';
import { renderKeyPath, scanTableHeaders } from '../../../src/installer/containerd/toml-tables.ts';

describe('TOML table header scanner', () => {
  it('finds headers with quoted keys, array tables, and the extent of each table', () => {
    const text = `a = 1\n[plugins."io.containerd.grpc.v1.cri" . containerd]\n  x = 1\n\n# comment\n[[proxy_plugins]]\nname = 'y'\n[ 'lit.key'.b ]\n`;
    const headers = scanTableHeaders(text);
    expect(headers.map((h) => h.keyPath)).toEqual([['plugins', 'io.containerd.grpc.v1.cri', 'containerd'], ['proxy_plugins'], ['lit.key', 'b']]);
    expect(headers[1]!.isArrayTable).toBe(true);
    expect(text.slice(headers[0]!.lineStart, headers[0]!.contentEnd)).toBe('[plugins."io.containerd.grpc.v1.cri" . containerd]\n  x = 1');
  });

  it('ignores header-like lines inside multi-line strings, basic and literal', () => {
    const text = `s = """\n[not.a.table]\n"""\nt = '''\n[nor.this]'''\n[real]\n`;
    expect(scanTableHeaders(text).map((h) => h.keyPath)).toEqual([['real']]);
  });

  it('a quote inside a comment or a single-line string does not open a string', () => {
    const text = `a = "has ''' inside" # and """ in a comment\n[real]\n`;
    expect(scanTableHeaders(text).map((h) => h.keyPath)).toEqual([['real']]);
  });

  it('renders key paths with quotes only where needed', () => {
    expect(renderKeyPath(['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'spin'])).toBe('plugins."io.containerd.grpc.v1.cri".containerd.runtimes.spin');
  });
});
