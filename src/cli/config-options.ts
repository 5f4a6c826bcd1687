/**
 * The configuration's flags on a commander command, and the configuration they load: every
 * flag is a setting of src/config (fields.ts), so its name, help and validation come from there.
 */
import { Option, type Command } from 'commander';
import { CONFIG_FIELDS, CONFIG_FILE_ENV, loadConfig, type AllInOneConfig, type ConfigField } from '../config/index.js';

/** Settings the subscriber commands take as flags. */
export const SUBSCRIBER_FIELDS: readonly string[] = ['dataDir', 'domain'];

/** Adds `--config <file>` and a flag per setting of `paths` (default: every setting). */
export function addConfigOptions(command: Command, paths?: readonly string[]): Command {
  command.addOption(new Option('--config <file>', `YAML configuration file (env ${CONFIG_FILE_ENV})`));
  const fields = paths ? CONFIG_FIELDS.filter((f) => paths.includes(f.path)) : CONFIG_FIELDS;
  for (const f of fields) command.addOption(optionOf(f));
  return command;
}

function optionOf(f: ConfigField): Option {
  const help = `${f.description.replace(/\.$/, '')} (default: ${f.defaultText}; env ${f.env})`;
  return new Option(`${f.flag} <${f.valueName}>`, help);
}

/** The flag values given to `command`, by setting path. */
export function flagsOf(command: Command): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  for (const f of CONFIG_FIELDS) {
    const option = command.options.find((o) => o.long === f.flag);
    if (!option) continue;
    const value: unknown = command.getOptionValue(option.attributeName());
    if (typeof value === 'string') flags[f.path] = value;
  }
  return flags;
}

/** The configuration: defaults, then the `--config` file, then `env`, then the command's flags. */
export function configOf(command: Command, env: NodeJS.ProcessEnv): { config: AllInOneConfig; file?: string } {
  const given = command.getOptionValue('config') as string | undefined;
  const file = given ?? (env[CONFIG_FILE_ENV] === '' ? undefined : env[CONFIG_FILE_ENV]);
  const config = loadConfig({ file, env, flags: flagsOf(command) });
  return file === undefined ? { config } : { config, file };
}
