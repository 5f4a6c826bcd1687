/** How the CLI talks: lines to standard output and error, and the errors it stops on. */

/** Where a command writes. */
export interface Output {
  /** A line of standard output. */
  line(text: string): void;
  /** A line of standard error. */
  error(text: string): void;
}

/** The process's standard output and error. */
export const processOutput: Output = {
  line: (text) => void process.stdout.write(`${text}\n`),
  error: (text) => void process.stderr.write(`${text}\n`),
};

/** A failure the CLI reports as `tidewater: <message>` and exits with `exitCode` on. */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
