/**
 * The vmrs command line. Each subcommand lives in its own module; this file
 * wires them to commander and turns every error into one clear line and a
 * non-zero status. Commands other than run, record and replay load when
 * used: their modules pull in Node's http, worker_threads and the like,
 * which every process would otherwise compile at its start.
 */
import { Command, CommanderError } from 'commander';
import { addMachineOptions, runCommand } from './run.js';
import { UsageError } from './options.js';
import type { ServeOptions } from './serve.js';
import { recordCommand } from './record.js';
import { DEFAULT_CHECKPOINT_EVERY, DEFAULT_DIGEST_INTERVAL } from '../replay/record-settings.js';
import { replayCommand, type ReplayOptions } from './replay.js';
import type { TraceOptions } from './trace.js';
import type { ProfileOptions } from './profile.js';
import type { VerifyOptions } from './verify.js';
import type { WorkerOptions } from './worker.js';
import { VMRS_VERSION } from './version.js';
import { collect } from './options.js';

/**
 * End the process with `code` now that a run, record or replay has closed
 * everything it opened: Node's own ending (freeing the heap and each
 * compiled module's code space) took 10-30 ms more after the guest had
 * powered off. Output still queued (an asynchronous pipe) is left to
 * drain the usual way.
 */
function exitNow(code: number): void {
  process.exitCode = code;
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0)
    process.exit(code);
}

const program = new Command();
program
  .name('vmrs')
  .description('A RISC-V virtual machine with deterministic record and replay')
  .version(VMRS_VERSION)
  .exitOverride()
  .showHelpAfterError();

addMachineOptions(
  program
    .command('run')
    .description(
      'boot a guest (by default: OpenSBI + the default Linux guest) with the console on this terminal',
    )
    .option(
      '--gdb <port>',
      'serve GDB on this TCP port; the guest waits until GDB attaches and continues',
    )
    .option('--gdb-host <address>', 'address the GDB port listens on', '127.0.0.1'),
).action(async (opts) => {
  exitNow(await runCommand(opts));
});

addMachineOptions(
  program
    .command('record')
    .description('run a guest as `vmrs run` does and record everything that enters it')
    .requiredOption('-o, --output <file>', 'the recording to write')
    .option('--embed', 'put the firmware, kernel, initrd and disk images inside the recording')
    .option(
      '--digest-interval <n>',
      `instructions between state digests, exactly (0: none; by default ${DEFAULT_DIGEST_INTERVAL / 1e6}M, up to 16 times that where the guest runs fast)`,
    )
    .option(
      '--checkpoint-every <when>',
      'checkpoints in the recording, every N instructions (200M) and/or guest time (60s); 0: none',
      DEFAULT_CHECKPOINT_EVERY,
    ),
).action(async (opts) => {
  exitNow(await recordCommand(opts));
});

program
  .command('replay')
  .description('re-execute a recording exactly, from its log alone')
  .argument('<file>', 'a recording made by vmrs record')
  .option('--no-verify', 'do not check state digests')
  .option('-q, --quiet', 'no progress messages from vmrs itself')
  .option(
    '--to <icount>',
    'stop at this instruction count (50000000, 50M, 1.2G) and print the machine state',
  )
  .option(
    '--gdb <port>',
    'serve GDB on this TCP port; the replay waits at its start until GDB attaches',
  )
  .option('--gdb-host <address>', 'address the GDB port listens on', '127.0.0.1')
  .option(
    '--checkpoint-interval <n>',
    'instructions between checkpoints for going back (doubled when memory runs short)',
    '20000000',
  )
  .option('--checkpoint-memory <size>', 'memory the checkpoints may use', '512M')
  .option(
    '--save-snapshot <file>',
    'with --to: save the machine there (a replay can start from it)',
  )
  .option('--from-snapshot <file>', 'start from a snapshot saved by --to N --save-snapshot')
  .option(
    '--from-start',
    "replay from the recording's start: do not start or seek from the checkpoints it holds",
  )
  .option('--engine <name>', 'execution engine: translate (compile hot code) or interp')
  .option('--stats', "print the execution engine's figures at the end")
  .option(
    '--plugin <file[,arg...]>',
    'run this plugin module over the replay (repeatable; see README, Plugins)',
    collect,
  )
  .action(async (file: string, opts: ReplayOptions) => {
    exitNow(await replayCommand(file, opts));
  });

program
  .command('trace')
  .description("what a recording's guest did, from a replay: its Linux system calls")
  .argument('<file>', 'a recording made by vmrs record')
  .option('--syscalls', 'every system call: icount pid comm name(args) = result')
  .option(
    '--perfetto <out.json>',
    'a trace-event file for Perfetto UI: system calls per process, traps, console, instruction rate',
  )
  .option('--pid <ids>', 'only these processes (comma-separated)')
  .option('--comm <names>', 'only these commands (comma-separated)')
  .option('--syscall <names>', 'only these system calls (comma-separated names or numbers)')
  .option('-o, --output <file>', 'write the trace here instead of standard output')
  .option('--vmlinux <elf>', "the kernel's ELF with DWARF (default: beside the recorded kernel)")
  .option(
    '-y, --decode-fds',
    'show what file descriptors name: 3</tmp/t>, 4<socket:[1234]> (needs DWARF)',
  )
  .option(
    '-j, --jobs <n>',
    'with checkpoints in the recording: segments replayed at once (default: one per core)',
  )
  .option('--queue <url>', 'hand the segments to `vmrs worker` processes through this Redis queue')
  .option('--share <path-or-url>', 'with --queue: where the workers read the recording')
  .option('-q, --quiet', 'no progress or summary from vmrs itself')
  .action(async (file: string, opts: TraceOptions) => {
    process.exitCode = await (await import('./trace.js')).traceCommand(file, opts);
  });

program
  .command('profile')
  .description("where a recording's guest spent its instructions, by process and function")
  .argument('<file>', 'a recording made by vmrs record')
  .option(
    '--symbols <elf>',
    'name functions from this ELF (repeatable; vmlinux is found by itself)',
    collect,
  )
  .option('--interval <n>', 'instructions between samples', '100000')
  .option('--top <n>', 'rows of the flat profile', '25')
  .option(
    '--collapsed <file>',
    'also write "process;outer;...;inner count" lines (flame graph input)',
  )
  .option(
    '-j, --jobs <n>',
    'with checkpoints in the recording: segments replayed at once (default: one per core)',
  )
  .option('--queue <url>', 'hand the segments to `vmrs worker` processes through this Redis queue')
  .option('--share <path-or-url>', 'with --queue: where the workers read the recording')
  .option('-q, --quiet', 'no messages from vmrs itself')
  .action(async (file: string, opts: ProfileOptions) => {
    process.exitCode = await (await import('./profile.js')).profileCommand(file, opts);
  });

program
  .command('serve')
  .description(
    'the browser app, these recordings and their images, over HTTP (loopback by default)',
  )
  .argument('[recordings...]', 'recordings to offer (the page can also open files from disk)')
  .option('--port <n>', 'TCP port (0: any free one)', '8080')
  .option('--host <addr>', 'address to listen on', '127.0.0.1')
  .option(
    '--live',
    'offer the default guest to boot and record in the page, building it first if needed (without: offered when already built)',
  )
  .option('-q, --quiet', 'no log')
  .action(async (files: string[], opts: ServeOptions) => {
    process.exitCode = await (await import('./serve.js')).serveCommand(files, opts);
  });

program
  .command('inspect')
  .description('show what a recording holds')
  .argument('<file>', 'a recording made by vmrs record')
  .option('--json', 'machine-readable output')
  .action(async (file: string, opts: { json?: boolean }) => {
    process.exitCode = (await import('./inspect.js')).inspectCommand(file, opts);
  });

program
  .command('verify')
  .description(
    "check a whole recording: replay the segments between its checkpoints in parallel, each against the next checkpoint's state",
  )
  .argument('<file>', 'a recording made by vmrs record')
  .option('-j, --jobs <n>', 'segments replayed at once (default: one per core)')
  .option(
    '--queue <url>',
    'hand the segments to `vmrs worker` processes through this Redis queue (redis://HOST:PORT)',
  )
  .option(
    '--share <path-or-url>',
    'with --queue: where the workers read the recording (default: its absolute path here)',
  )
  .option('--engine <name>', 'execution engine: translate (compile hot code) or interp')
  .option('--json', 'machine-readable report on stdout')
  .option('-q, --quiet', 'no progress line')
  .action(async (file: string, opts: VerifyOptions) => {
    process.exitCode = await (await import('./verify.js')).verifyCommand(file, opts);
  });

program
  .command('worker')
  .description(
    'replay segments handed out by `vmrs verify --queue` (run any number, on any machines)',
  )
  .requiredOption('--queue <url>', 'the Redis server of the queue (redis://HOST:PORT)')
  .option('-c, --concurrency <n>', 'segments replayed at once (default: one per core)')
  .option(
    '--lock-ms <ms>',
    "how long a job's lock lasts unrenewed: a worker that died gives its job back after this",
    '30000',
  )
  .option('-q, --quiet', 'no log of the jobs')
  .action(async (opts: WorkerOptions) => {
    process.exitCode = await (await import('./worker.js')).workerCommand(opts);
  });

addMachineOptions(
  program
    .command('diff-engines')
    .description(
      'run a guest on the translator and on the interpreter side by side and name the first instruction where they differ',
    )
    .option('--insns <n>', 'instructions to compare', '200000000')
    .option('--slice <n>', 'instructions between comparisons', '1000000'),
).action(async (opts) => {
  process.exitCode = await (await import('./diff-engines.js')).diffEnginesCommand(opts);
});

const guest = program.command('guest').description('the default guest image');
guest
  .command('build')
  .description(
    'build the default guest (Linux 6.1 + busybox) if it is not cached, and print its paths',
  )
  .action(async () => {
    process.exitCode = await (await import('./guest.js')).guestBuildCommand();
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
    process.exitCode = e instanceof UsageError ? e.exitCode : 1;
  }
}

// Not awaited at the top level: the CLI bundle is CommonJS (bin/vmrs), which has no top-level await;
// main() reports its own errors.
void main();
