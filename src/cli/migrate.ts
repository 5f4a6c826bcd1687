/**
 * `tidewater migrate`: brings the PostgreSQL database of `postgresUrl` to this release's schema
 * (docs/storage.md, "Migrations"), once per release before the nodes start; nodes refuse a
 * database at another version. Safe to run from several hosts at once, and again: a database
 * already up to date is left as it is. Without `postgresUrl` there is nothing to do (the data
 * folder's SQLite file migrates itself when opened) and it says so, exiting 0, so a deployment
 * script may run it whatever the stores.
 */
import type { AllInOneConfig } from '../config/index.js';
import { CliError, type Output } from './output.js';
import { describePostgresUrl } from './storage.js';

/** Applies the missing migrations and prints what was done; rejects with a {@link CliError} naming `postgresUrl`. */
export async function migrateCommand(config: AllInOneConfig, out: Output): Promise<void> {
  const url = config.postgresUrl;
  if (url === undefined) {
    out.line('nothing to migrate: postgresUrl is not set (the data folder\u2019s SQLite database migrates itself when opened)');
    return;
  }
  const where = describePostgresUrl(url);
  out.line(`migrating the PostgreSQL database at ${where}`);
  const { describeMigration, migratePostgresUrl } = await import('../storage/postgres/index.js');
  let lines: string[];
  try {
    lines = describeMigration(await migratePostgresUrl(url));
  } catch (error) {
    throw new CliError(`postgresUrl: cannot migrate the PostgreSQL database at ${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const line of lines) out.line(line);
}
