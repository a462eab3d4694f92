import type { InstallerErrorCode } from '../api/installer-contract.ts';

/**
 * An error the installer reports to the user. `code` is stable and machine-readable (the
 * controller keys decisions and Events on it); `message` says what happened, where, and what to do.
 */
export class InstallerError extends Error {
  readonly code: InstallerErrorCode;

  constructor(code: InstallerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InstallerError';
    this.code = code;
  }
}

/** The error's message, with its cause's when that adds something. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause && !error.message.includes(cause) ? `${error.message} (${cause})` : error.message;
}
