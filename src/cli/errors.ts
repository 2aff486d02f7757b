/** Exit codes scripts can trust. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * A user error: printed as advice without a stack trace (the stack shows only with --verbose).
 * `code` is the process exit code.
 */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly code: number = EXIT_FAILURE,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}
