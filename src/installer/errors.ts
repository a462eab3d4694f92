/**
 * An error the installer reports to the user. `code` is stable and machine-readable (the
 * controller keys decisions and Events on it); `message` says what happened, where, and what to do.
 */
export class InstallerError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InstallerError';
    this.code = code;
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause && !error.message.includes(cause.slice(2)) ? cause : ''}`;
  }
  return String(error);
}
