/**
 * The vmrs command line. Each subcommand lives in its own module; this file
 * wires them to commander and turns every error into one clear line and a
 * non-zero status.
 */
import { Command, CommanderError } from 'commander';
import { addMachineOptions, runCommand } from './run.js';
import { guestBuildCommand } from './guest.js';

const program = new Command();
program
  .name('vmrs')
  .description('A RISC-V virtual machine with deterministic record and replay')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError();

addMachineOptions(
  program
    .command('run')
    .description(
      'boot a guest (by default: OpenSBI + the default Linux guest) with the console on this terminal',
    ),
).action(async (opts) => {
  process.exitCode = await runCommand(opts);
});

const guest = program.command('guest').description('the default guest image');
guest
  .command('build')
  .description(
    'build the default guest (Linux 6.1 + busybox) if it is not cached, and print its paths',
  )
  .action(async () => {
    process.exitCode = await guestBuildCommand();
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`vmrs: error: ${msg}\n`);
    if (process.env.VMRS_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}

await main();
