/**
 * The `tidewater` command line: `all-in-one` runs every function in one process; `hss`, `xdms`,
 * `portal` and `mmtel` run one function alone; `subscriber` provisions the HSS data; `migrate` sets up the
 * PostgreSQL schema. bin/tidewater.js runs the compiled file; in the repository
 * `node --import tsx src/cli/main.ts` runs this one.
 */
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.js';
import { runAllInOneCommand, runServerCommand } from './all-in-one-command.js';
import { addConfigOptions, configOf, SUBSCRIBER_FIELDS } from './config-options.js';
import { IdentityError } from './identities.js';
import { CliError, processOutput, type Output } from './output.js';
import { addSubscriber, listSubscribers, removeSubscriber, showSubscriber, type SubscriberContext } from './subscriber.js';
import { DEFAULT_PROGRESS_EVERY, importSubscribersCommand } from './subscriber-import.js';

/** The package's version, from the package.json above this file (src/cli or dist/src/cli). */
function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tidewater') return pkg.version ?? '0.0.0';
    } catch {
      // no package.json here
    }
    const parent = path.dirname(dir);
    if (parent === dir) return '0.0.0';
    dir = parent;
  }
}

/** The keys choosing the stores, as flags of the commands that open them (docs/storage.md). */
const STORAGE_FIELDS: readonly string[] = ['postgresUrl', 'redisUrl', 'redisCluster', 'redisPrefix'];

/** A whole number from a flag, left as NaN for the command to refuse. */
function integerFlag(text: string): number {
  return /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
}

function subscriberCommands(out: Output, env: NodeJS.ProcessEnv): Command {
  const context = (command: Command): SubscriberContext => ({ config: configOf(command, env).config, out });
  const leaf = (name: string, description: string) =>
    addConfigOptions(new Command(name).description(description), [...SUBSCRIBER_FIELDS, ...STORAGE_FIELDS]);
  const subscriber = new Command('subscriber').description('add, list, show and remove subscribers (works whether or not the server runs)');
  subscriber.addCommand(
    leaf('add', 'add a subscriber: a private identity with its password\u2019s HA1, and its public identities')
      .argument('<number|impu>', 'a number (6505550001: IMPU sip:6505550001@<domain>, IMPI 6505550001@<domain>) or a public identity sip:user@host (IMPI user@host)')
      .option('--password <password>', 'the SIP password; without it one is generated and printed once (only its HA1 is stored)')
      .option('--also <impu...>', 'more public identities of the same implicit registration set')
      .action(async (arg: string, opts: { password?: string; also?: string[] }, command: Command) => {
        await addSubscriber(context(command), arg, { password: opts.password, also: opts.also });
      }),
  );
  subscriber.addCommand(
    leaf('import', 'add the subscribers of a CSV file, one per line: number,password[,more identities...]; numbers already there are skipped')
      .argument('<file.csv>', 'the CSV file; a first line number,password,... is a header; quote a field holding a comma as "a,b"')
      .option('--progress-every <rows>', 'print a progress line after every this many rows', integerFlag, DEFAULT_PROGRESS_EVERY)
      .action(async (file: string, opts: { progressEvery: number }, command: Command) => {
        await importSubscribersCommand(context(command), file, { progressEvery: opts.progressEvery });
      }),
  );
  subscriber.addCommand(
    leaf('list', 'list the public identities with their private identity and registration state').action(async (_opts, command: Command) => {
      await listSubscribers(context(command));
    }),
  );
  subscriber.addCommand(
    leaf('show', 'show a subscriber: identities, implicit set, barring, registration state, S-CSCF, contacts')
      .argument('<impu|number>', 'a public identity or a number of the domain')
      .action(async (arg: string, _opts, command: Command) => {
        await showSubscriber(context(command), arg);
      }),
  );
  subscriber.addCommand(
    leaf('remove', 'remove a subscriber: the public identities of its implicit set, the set, and its private identity')
      .argument('<impu|number>', 'a public identity or a number of the domain')
      .action(async (arg: string, _opts, command: Command) => {
        await removeSubscriber(context(command), arg);
      }),
  );
  return subscriber;
}

/** The program; `out` receives every line, commander's included. */
export function buildProgram(out: Output, env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command('tidewater')
    .description('Tidewater: a cloud-native IMS core (edge, core, HSS, XDMS, portal, MMTel AS)')
    .version(packageVersion(), '-V, --version', 'print the version');
  const allInOne = new Command('all-in-one')
    .description('run every IMS function in this process, with embedded SQLite storage in the data folder')
    .action(async (_opts, command: Command) => {
      const { config, file } = configOf(command, env);
      await runAllInOneCommand(config, out, file);
    });
  program.addCommand(addConfigOptions(allInOne));
  const edge = new Command('edge')
    .description(
      'run the edge (P-CSCF) alone: clients on sipPort (UDP, TCP), tlsPort, wsPort and wssPort; REGISTER and registered users\u2019 requests go to the core nodes of coreUris (or DNS), bindings are read from the registration store (Redis with redisUrl)',
    )
    .action(async (_opts, command: Command) => {
      const { config } = configOf(command, env);
      const { startEdge } = await import('./roles.js');
      await runServerCommand('edge', config, out, () => startEdge(config));
    });
  program.addCommand(addConfigOptions(edge));
  const core = new Command('core')
    .description(
      'run a core node alone (I-CSCF and S-CSCF, sipPort UDP and TCP): registrations, nonce counts and reg-event subscriptions in the shared stores (Redis with redisUrl), subscriber data from the HSS at hssUrl; any number of them serve the same edges',
    )
    .action(async (_opts, command: Command) => {
      const { config } = configOf(command, env);
      const { startCore } = await import('./roles.js');
      await runServerCommand('core', config, out, () => startCore(config));
    });
  program.addCommand(addConfigOptions(core));
  const hss = new Command('hss')
    .description('run the HSS alone: signalling (hssPort) and provisioning (hssProvisioningPort) APIs on the data folder')
    .action(async (_opts, command: Command) => {
      const { config } = configOf(command, env);
      const { startHssAlone } = await import('./services.js');
      await runServerCommand('hss', config, out, () => startHssAlone(config));
    });
  program.addCommand(addConfigOptions(hss));
  const xdms = new Command('xdms')
    .description('run the XDMS alone: XCAP for simservs documents (xdmsPort) on the data folder')
    .action(async (_opts, command: Command) => {
      const { config } = configOf(command, env);
      const { startXdmsAlone } = await import('./services.js');
      await runServerCommand('xdms', config, out, () => startXdmsAlone(config));
    });
  program.addCommand(addConfigOptions(xdms));
  const portal = new Command('portal')
    .description(
      'run the portal alone (portalPort): accounts in the data folder; numbers provisioned in the HSS and the XDMS at hssProvisioningUrl and xdmsUrl (give both), or, without them, in the data folder\u2019s subscriber data and documents',
    )
    .action(async (_opts, command: Command) => {
      const { config } = configOf(command, env);
      const { startPortalAlone } = await import('./services.js');
      await runServerCommand('portal', config, out, () => startPortalAlone(config));
    });
  program.addCommand(addConfigOptions(portal));
  const mmtel = new Command('mmtel')
    .description(
      'run the MMTel application server alone (sipPort, UDP and TCP) for an S-CSCF in another process: supplementary services from the simservs documents of the XDMS at xdmsUrl, or of the data folder without it',
    )
    .action(async (_opts, command: Command) => {
      const { config } = configOf(command, env);
      const { startMmtelAlone } = await import('./mmtel.js');
      await runServerCommand('mmtel', config, out, () => startMmtelAlone(config));
    });
  program.addCommand(addConfigOptions(mmtel));
  program.addCommand(subscriberCommands(out, env));
  const migrate = new Command('migrate')
    .description('bring the PostgreSQL database of postgresUrl to this release\u2019s schema (before starting nodes on it); nothing to do without postgresUrl')
    .action(async (_opts, command: Command) => {
      const { config } = configOf(command, env);
      const { migrateCommand } = await import('./migrate.js');
      await migrateCommand(config, out);
    });
  program.addCommand(addConfigOptions(migrate, ['postgresUrl']));
  const output = {
    writeOut: (text: string) => out.line(text.replace(/\n$/, '')),
    writeErr: (text: string) => out.error(text.replace(/\n$/, '')),
    outputError: (text: string, write: (text: string) => void) => write(text.replace(/^error: /, 'tidewater: ')),
  };
  (function settle(c: Command): void {
    c.exitOverride().showSuggestionAfterError(true).configureOutput(output);
    c.commands.forEach(settle);
  })(program);
  return program;
}

/** Runs the command line `argv` (as `process.argv`) and resolves with the exit code. */
export async function main(argv: readonly string[], out: Output = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    await buildProgram(out, env).parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof ConfigError) error.problems.forEach((p) => out.error(`tidewater: ${p}`));
    else if (error instanceof CliError || error instanceof IdentityError || error instanceof Error) out.error(`tidewater: ${error.message}`);
    else out.error(`tidewater: ${String(error)}`);
    return error instanceof CliError ? error.exitCode : 1;
  }
}

/** The process entry: runs `main` and exits with its code. */
export async function run(argv: readonly string[] = process.argv): Promise<never> {
  process.exit(await main(argv));
}

function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntry()) void run();
