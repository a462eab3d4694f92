import { describe, expect, it } from 'vitest';
import { parseInstallerArgs, type InstallerOptions } from '../../../src/installer/options.ts';

const digest = 'ab'.repeat(32);
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseInstallerArgs(argv, env) as InstallerOptions;

describe('installer CLI contract', () => {
  it('applies the documented defaults', () => {
    const options = parse(['install', '--shim', 'spin', '--url', 'https://example.test/a.tgz', '--sha256', digest]);
    expect(options).toMatchObject({ command: 'install', hostRoot: '/host', installDir: '/opt/shimkeeper', handler: 'spin', restart: 'auto', runtimeOptions: {} });
  });

  it('reads every flag from the environment in upper snake case; flags win', () => {
    const env = { HOST_ROOT: '/h', SHIM: 'spin', HANDLER: 'spin-h', URL: 'file:///a.tgz', SHA256: digest.toUpperCase(), VERSION: '1.2.3', INSTALL_DIR: '/opt/x', CONTAINERD_CONFIG: '/etc/c.toml', CONTAINERD_SOCKET: '/run/c.sock', RESTART: 'none', RUNTIME_OPTION: 'A=1,B=two' };
    expect(parse(['install'], env)).toMatchObject({ hostRoot: '/h', shim: 'spin', handler: 'spin-h', url: 'file:///a.tgz', sha256: digest, version: '1.2.3', installDir: '/opt/x', containerdConfig: '/etc/c.toml', containerdSocket: '/run/c.sock', restart: 'none', runtimeOptions: { A: '1', B: 'two' } });
    expect(parse(['install', '--restart', 'signal', '--runtime-option', 'C=3'], env)).toMatchObject({ restart: 'signal', runtimeOptions: { C: '3' } });
  });

  it.each([
    [['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', 'nothex'], /64-hex-digit sha256/],
    [['install', '--shim', 'spin', '--sha256', digest], /needs --url/],
    [['install', '--shim', 'Spin!', '--url', 'https://x/a', '--sha256', digest], /--shim must be a Shim name: a DNS label/],
    [['install', '--shim', 'spin', '--handler', 'a.b', '--url', 'https://x/a', '--sha256', digest], /--handler must be a DNS label/],
    [['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest, '--runtime-option', 'a.b=1'], /may hold only letters/],
    [['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest, '--runtime-option', 'novalue'], /is not KEY=VALUE/],
    [['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest, '--restart', 'reboot'], /--restart must be/],
    [['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest, '--version', 'latest'], /semantic version/],
    [['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest, '--install-dir', 'relative'], /absolute host path/],
    [['frobnicate'], /expected a command/],
    [['install', '--no-such-flag'], /Unknown option/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseInstallerArgs(argv, {})).toThrow(message);
  });

  it('reads RUNTIME_OPTION as a JSON object, so values may hold commas, newlines and =', () => {
    const runtimeOptions = { BinaryName: '/usr/bin/a,b', Args: 'x=1\ny=2', Empty: '', Quote: '"q" \\ ü', __proto__x: 'p' };
    expect(parse(['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest], { RUNTIME_OPTION: JSON.stringify(runtimeOptions) }).runtimeOptions).toEqual(runtimeOptions);
    const proto = parse(['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest], { RUNTIME_OPTION: '{"__proto__":"v"}' }).runtimeOptions;
    expect(Object.keys(proto)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    // The KEY=VALUE list form is unchanged for people.
    expect(parse(['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest], { RUNTIME_OPTION: 'A=1\nB=x=y' }).runtimeOptions).toEqual({ A: '1', B: 'x=y' });
  });

  it.each([
    ['{"A":', /not JSON/],
    ['{"A":1}', /must be a string/],
    ['{"a.b":"1"}', /may hold only letters/],
  ])('refuses RUNTIME_OPTION %s', (value, message) => {
    expect(() => parseInstallerArgs(['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest], { RUNTIME_OPTION: value })).toThrow(message);
  });

  it('installs without a digest only when told to skip the checksum explicitly', () => {
    expect(() => parseInstallerArgs(['install', '--shim', 'spin', '--url', 'https://x/a'], {})).toThrow(/64-hex-digit sha256/);
    expect(parse(['install', '--shim', 'spin', '--url', 'https://x/a', '--insecure-skip-checksum'])).toMatchObject({ sha256: '', insecureSkipChecksum: true });
    expect(parse(['install'], { SHIM: 'spin', URL: 'https://x/a', INSECURE_SKIP_CHECKSUM: 'true' })).toMatchObject({ insecureSkipChecksum: true });
  });

  it('takes over an existing handler only when told to, by flag or TAKE_OVER_HANDLER=true', () => {
    const base = ['install', '--shim', 'spin', '--url', 'https://x/a', '--sha256', digest];
    expect(parse(base)).toMatchObject({ takeOverHandler: false });
    expect(parse([...base, '--take-over-handler'])).toMatchObject({ takeOverHandler: true });
    expect(parse(base, { TAKE_OVER_HANDLER: 'true' })).toMatchObject({ takeOverHandler: true });
    expect(parse(base, { TAKE_OVER_HANDLER: 'false' })).toMatchObject({ takeOverHandler: false });
  });

  it('a Shim name is a DNS label of at most 63 characters, as the CRD requires', () => {
    expect(parse(['install', '--shim', 'a'.repeat(63), '--handler', 'h', '--url', 'https://x/a', '--sha256', digest])).toMatchObject({ shim: 'a'.repeat(63) });
    for (const shim of ['a'.repeat(64), 'state.json', 'a.b', '-a', 'A']) {
      expect(() => parse([`--shim=${shim}`, 'install', '--handler', 'h', '--url', 'https://x/a', '--sha256', digest])).toThrow(/--shim must be a Shim name: a DNS label/);
    }
  });

  it('status needs no shim', () => {
    expect(parse(['status'])).toMatchObject({ command: 'status', shim: '' });
  });
});
