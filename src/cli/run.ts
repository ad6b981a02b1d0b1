/** `vmrs run`: boot a machine with the console on stdio. */
import { warmUpInterpreterOnce } from './warm-up.js';
import { threadTimes, threadTimesSince } from '../host/thread-time.js';
import type { Command } from 'commander';
import { collect, parseGuestMemorySize, readImageAsync, UsageError } from './options.js';
import { reportDeviceFailures } from './device-failures.js';
import { VirtMachine, type VirtConfig } from '../machine/virt.js';
import { StdioConsole } from '../host/stdio-console.js';
import { RunLoop } from '../machine/run-loop.js';
import { TIME_MODES, type TimeMode } from '../machine/guest-pacing.js';
import { findFirmware } from '../host/firmware.js';
import { ensureDefaultGuest } from '../host/default-guest.js';
import { randomFillSync } from 'node:crypto';
import { Gate } from '../replay/gate.js';
import type { Recorder } from '../replay/recorder.js';
import { loadPlugins } from './plugins.js';
import {
  diskDigest,
  openDevices,
  parseDevices,
  type DiskInfo,
  type ParsedDevices,
} from './devices.js';
import { renameSync, writeFileSync } from 'node:fs';
import { ImageFileError, readImageFile } from '../host/image-file.js';
import { SnapshotError } from '../snapshot/state.js';
import {
  SNAPSHOT_VERSION,
  captureSnapshot,
  readSnapshot,
  restoreSnapshot,
  type Snapshot,
} from '../snapshot/snapshot-file.js';
import { configFromDescription, describeMachine } from './machine-description.js';
import { VMRS_VERSION } from './version.js';
import { LiveDebugSession } from './debug-session.js';
import { HotProfile } from '../host/hot-profile.js';
import { chooseEngine, engineStats } from './engine-option.js';

export interface MachineOptions {
  bios?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  memory: string;
  insnsPerTick: string;
  quiet?: boolean;
  drive?: string[];
  net?: string[];
  rng?: boolean;
  hvc?: string;
  /** Start from this snapshot instead of booting (machine options come from it). */
  loadSnapshot?: string;
  /** Save the machine here when the run ends. */
  saveSnapshotOnExit?: string;
  /** `vmrs run --gdb PORT`: serve GDB while the machine lasts; the guest waits for it to attach and continue. */
  gdb?: string;
  gdbHost?: string;
  /** Execution engine (see engine-option.ts). */
  engine?: string;
  /** Plugin modules, each FILE[,ARG…] (see src/plugin/plugin-api.ts). */
  plugin?: string[];
  /** Print the engine's figures at the end. */
  stats?: boolean;
  /** How guest time follows the host clock (src/machine/guest-pacing.ts). */
  clock?: string;
}

export const DEFAULT_APPEND = 'console=ttyS0 earlycon=sbi';
/** The machine options' defaults (`-m`, `--insns-per-tick`): vmrs serve's live machine uses them too. */
export const DEFAULT_MEMORY = '256M';
export const DEFAULT_INSNS_PER_TICK = '10';

export function addMachineOptions(cmd: Command): Command {
  return cmd
    .option(
      '--bios <file>',
      "M-mode firmware (ELF or binary), or 'none' to start the kernel in M-mode (default: OpenSBI fw_dynamic)",
    )
    .option(
      '--kernel <file>',
      'Linux Image or vmlinux, or a bare-metal ELF (default: the default guest, built on first use)',
    )
    .option(
      '--initrd <file>',
      "initial ramdisk (default: the default guest's initramfs when no --kernel is given)",
    )
    .option('--append <cmdline>', 'kernel command line', undefined)
    .option(
      '-m, --memory <size>',
      'guest RAM (e.g. 256M, 1G; a plain number is MiB)',
      DEFAULT_MEMORY,
    )
    .option(
      '--insns-per-tick <n>',
      'guest instructions per 10 MHz timer tick',
      DEFAULT_INSNS_PER_TICK,
    )
    .option(
      '--drive <spec>',
      'virtio disk: file=IMG[,format=raw][,readonly=on][,snapshot=on][,overlay=FILE][,serial=S] (repeatable)',
      collect,
      [],
    )
    .option(
      '--net <spec>',
      'virtio NIC: user[,hostfwd=tcp::HOSTPORT-:GUESTPORT]... (passt) | socket,listen=PATH | socket,connect=PATH; [,mac=M] (repeatable)',
      collect,
      [],
    )
    .option('--rng', 'virtio-rng entropy device, fed from the host (/dev/hwrng in the guest)')
    .option(
      '--hvc <target>',
      "virtio console hvc0: 'stdio' (the interactive console instead of ttyS0) or file=PATH (output only)",
    )
    .option(
      '--load-snapshot <file>',
      'start from a snapshot instead of booting (memory, images and kernel command line come from it; give the same devices)',
    )
    .option(
      '--save-snapshot-on-exit <file>',
      'when vmrs is stopped (Ctrl-A X or a signal), save the running machine to this file (not when the guest powers itself off)',
    )
    .option('--engine <name>', 'execution engine: translate (compile hot code) or interp')
    .option('--stats', "print the execution engine's figures at the end")
    .option(
      '--plugin <file[,arg...]>',
      'run this plugin module alongside the guest (repeatable; see README, Plugins)',
      collect,
    )
    .option(
      '--clock <mode>',
      "guest time against the host's: 'idle' (a guest's wait lasts its own length in host time; fast code runs ahead), 'host' (guest time held to the host clock: the guest's date stays the wall time, a run lasts at least its guest time) or 'warp' (waits end at once: a sleeping guest runs as fast as the host allows)",
      'idle',
    )
    .option('-q, --quiet', 'no progress messages from vmrs itself');
}

function parseTimeMode(s: string | undefined): TimeMode {
  if (s === undefined) return 'idle';
  const mode = TIME_MODES.find((m) => m === s);
  if (mode) return mode;
  throw new UsageError(`--clock must be one of ${TIME_MODES.join(', ')} (not '${s}')`);
}

/**
 * Resolve the options into a machine configuration (reads the images; throws
 * UsageError on bad input). The images are read on libuv's thread pool, and
 * `whileReading` runs on this thread meanwhile: the interpreter's warm-up,
 * which takes longer than reading a kernel and initrd (the buffers' first
 * touches cost this host about 30 ms for the default guest's 5 MiB).
 */
export async function machineConfig(
  opts: MachineOptions,
  log: (s: string) => void,
  devices?: ParsedDevices,
  whileReading?: () => void,
): Promise<VirtConfig> {
  const memoryBytes = parseGuestMemorySize(opts.memory);
  const ipt = Number(opts.insnsPerTick);
  if (!Number.isInteger(ipt) || ipt < 1 || ipt > 1000)
    throw new UsageError(`--insns-per-tick must be an integer from 1 to 1000`);
  let kernelPath = opts.kernel;
  let initrdPath = opts.initrd;
  let append = opts.append;
  if (!kernelPath) {
    if (opts.bios === 'none') throw new UsageError('--bios none needs --kernel');
    const guest = await ensureDefaultGuest({ log });
    kernelPath = guest.kernel;
    if (!initrdPath) initrdPath = guest.initrd;
  }
  if (append === undefined) {
    append = opts.kernel ? DEFAULT_APPEND : `${DEFAULT_APPEND} quiet`;
    // The last console= is /dev/console, where the default guest's shell runs.
    if (devices?.hvc?.kind === 'stdio') append += ' console=hvc0';
  }
  const biosName = opts.bios === 'none' ? 'none' : (opts.bios ?? findFirmware('fw_dynamic'));
  // Each file is opened and checked as its read starts: a bad path is an error at once. A
  // read already started when a later one throws, or when whileReading does, is not left
  // with a rejection nobody observes.
  const read = (what: string, path: string) => {
    const p = readImageAsync(what, path);
    p.catch(() => {});
    return p;
  };
  const reads = Promise.all([
    biosName === 'none' ? ('none' as const) : read('firmware', biosName),
    read('kernel', kernelPath!),
    initrdPath ? read('initrd', initrdPath) : undefined,
  ]);
  reads.catch(() => {});
  whileReading?.();
  const [bios, kernel, initrd] = await reads;
  return {
    memoryBytes,
    bios,
    biosName,
    kernel,
    kernelName: kernelPath,
    initrd,
    initrdName: initrdPath,
    append,
    insnsPerTick: ipt,
    rtcStartUnixNs: Date.now() * 1e6,
  };
}

/** A snapshot file read and checked, with its bytes (a recording may embed them). */
export interface OpenedSnapshot {
  path: string;
  bytes: Uint8Array;
  snap: Snapshot;
}

export function openSnapshot(path: string): OpenedSnapshot {
  let bytes: Uint8Array;
  try {
    bytes = readImageFile(path, 'snapshot');
  } catch (e) {
    if (e instanceof ImageFileError) throw new UsageError(e.message);
    throw e;
  }
  try {
    return { path, bytes, snap: readSnapshot(bytes) };
  } catch (e) {
    if (e instanceof SnapshotError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
}

/** The disks given now must be the snapshot's bases: its state holds only the writes on top. */
function checkSnapshotDisks(snap: Snapshot, disks: DiskInfo[]): void {
  const refs = snap.header.devices.filter((d) => d.kind === 'blk');
  if (refs.length !== disks.length)
    throw new UsageError(
      `the snapshot has ${refs.length} disk(s); give the same --drive options (${disks.length} given)`,
    );
  refs.forEach((r, i) => {
    const d = disks[i];
    if (r.kind === 'blk' && diskDigest(d) !== r.disk.sha256)
      throw new UsageError(
        `disk ${i} ('${d.path}') is not the image the snapshot was taken over ('${r.disk.path}')`,
      );
  });
}

/** What record mode adds to a run: a recorder, and disks that keep their base images unchanged. */
export interface RecordMode {
  /** Build the recorder once the machine's configuration and devices are known. */
  makeRecorder(
    config: VirtConfig,
    devices: ParsedDevices,
    disks: DiskInfo[],
    snapshot: OpenedSnapshot | undefined,
  ): Recorder;
  /** Called about once a second: cut a chunk so a killed recording loses little. */
  flushEvery?: number;
  /** The run is over, the recording not yet ended: last checks (images that changed). */
  beforeEnd?(): void;
}

export async function runCommand(opts: MachineOptions, record?: RecordMode): Promise<number> {
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`[vmrs] ${s}\n`);
  };
  const timeMode = parseTimeMode(opts.clock);
  const parsed = parseDevices(opts);
  const snapshot = opts.loadSnapshot ? openSnapshot(opts.loadSnapshot) : undefined;
  const config = snapshot
    ? configFromDescription(snapshot.snap.header, new Map())
    : await machineConfig(opts, log, parsed, warmUpInterpreterOnce);
  const sink: { recorder?: Recorder } = {};
  const gate = new Gate((b) => randomFillSync(b), {
    append: (ev) => sink.recorder?.append(ev),
  });
  // The console and backends are created first so that their callbacks can reach the machine made after them.
  const ref: { loop?: RunLoop; vm?: VirtMachine } = {};
  const hvcOnStdio = parsed.hvc?.kind === 'stdio';
  const console = new StdioConsole({
    onInput: (bytes) => {
      if (!ref.vm) return;
      if (hvcOnStdio) gate.hvc(bytes);
      else gate.console(bytes);
      ref.loop?.notifyInput();
    },
    onQuit: () => ref.loop?.stop({ kind: 'stopped', status: 0 }),
    // stdout gone (`vmrs run | head`): stop as SIGPIPE would (128 + 13), a recording whole.
    onOutputError: (why) => {
      process.stderr.write(`vmrs: console output failed (${why}); stopping the machine\n`);
      ref.loop?.stop({ kind: 'stopped', status: 141 });
    },
  });
  const devices = await openDevices(
    parsed,
    {
      onFrame: (nic, frame) => {
        if (!ref.vm) return;
        gate.netFrame(nic, frame);
        ref.loop?.notifyInput();
      },
      onLink: (nic, up) => {
        if (!ref.vm) return;
        gate.netLink(nic, up);
        ref.loop?.notifyInput();
      },
      stdioSink: { write: (b) => console.writeBytes(b) },
      log,
    },
    gate,
    record ? 'record' : 'run',
  );
  try {
    if (snapshot) checkSnapshotDisks(snapshot.snap, devices.disks);
    if (opts.saveSnapshotOnExit)
      devices.specs.forEach((s, i) => {
        if (s.kind === 'blk' && !s.store.saveState)
          throw new UsageError(
            `--save-snapshot-on-exit: disk ${i} is written in place and cannot be saved; use snapshot=on`,
          );
      });
    const recorder = record?.makeRecorder(config, parsed, devices.disks, snapshot);
    sink.recorder = recorder;
    warmUpInterpreterOnce();
    // Disks pass the gate: a host I/O error is an input the guest sees (logged when recording).
    let disk = 0;
    const virtio = devices.specs.map((s) =>
      s.kind === 'blk' ? { ...s, store: gate.disk(s.store, disk++) } : s,
    );
    const vm = new VirtMachine({ ...config, virtio }, (b) => console.write(b));
    chooseEngine(vm.cpu, opts.engine);
    const plugins = opts.plugin?.length
      ? await loadPlugins(opts.plugin, vm, (line) => process.stderr.write(`${line}\n`))
      : undefined;
    if (plugins?.needsInterpreter && vm.cpu.engine !== 'interp') {
      vm.cpu.engine = 'interp';
      log('a plugin watches sstatus/mstatus writes: running on the interpreter');
    }
    const startMs = performance.now();
    const startThread = threadTimes();
    reportDeviceFailures(vm);
    if (snapshot) {
      try {
        restoreSnapshot(vm, snapshot.snap);
      } catch (e) {
        if (e instanceof SnapshotError) throw new UsageError(`${opts.loadSnapshot}: ${e.message}`);
        throw e;
      }
      log(`started from snapshot ${opts.loadSnapshot} at icount ${vm.cpu.icount}`);
    }
    gate.attach(vm);
    recorder?.attach(vm);
    // After a snapshot's restore (which empties the code cache): seeds from the last run.
    const hotProfile = vm.cpu.engine === 'translate' ? HotProfile.open(vm) : undefined;
    plugins?.install();
    if (plugins?.wantsInputs) gate.onInput = (ev) => plugins.input(ev);
    let lastFlush = performance.now();
    let pluginStopped = false;
    const loop = new RunLoop(
      vm,
      gate,
      {
        afterSlice: () => {
          console.flush();
          // A plugin that failed: its results would be incomplete, so the run stops (as Ctrl-A X would).
          if (plugins?.failure && !pluginStopped) {
            pluginStopped = true;
            loop.stop({ kind: 'stopped', status: 1 });
          }
          recorder?.maybeCheckpoint();
          if (recorder && performance.now() - lastFlush > (record?.flushEvery ?? 1000)) {
            recorder.flush();
            lastFlush = performance.now();
          }
        },
        nextStop: recorder ? () => recorder.nextDigestAt : undefined,
        atStop: recorder ? () => recorder.digestNow() : undefined,
        onDebugStop: () => debug?.target.debugStopped(),
      },
      timeMode,
    );
    const debug =
      opts.gdb === undefined
        ? undefined
        : await LiveDebugSession.open(vm, loop, opts.gdb, opts.gdbHost ?? '127.0.0.1', log);
    // Each NIC was built with its cable out, or restored from a snapshot as it was then;
    // what its backend says now is a host input, so it goes through the gate (and the log).
    // Link changes reported before this point reached no machine and were dropped.
    devices.nets.forEach((n, i) => {
      if (n.linkUp !== vm.nics[i].linkUp) gate.netLink(i, n.linkUp);
    });
    ref.vm = vm;
    ref.loop = loop;
    const onSignal = () => loop.stop({ kind: 'stopped', status: 130 });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    console.start();
    try {
      let exit;
      try {
        exit = await loop.run();
      } catch (e) {
        // An internal error: keep what was recorded so far (it replays up to here, as a cut-short recording).
        recorder?.flush();
        await recorder?.settle();
        throw e;
      }
      debug?.target.exited(`the guest stopped (${exit.kind})`);
      hotProfile?.save();
      console.flush();
      if (plugins) {
        await plugins.end({ icount: vm.cpu.icount, state: exit.kind });
        if (plugins.failure)
          process.stderr.write(
            `vmrs: ${plugins.failure}\nvmrs: stopped at icount ${vm.cpu.icount}\n`,
          );
      }
      if (opts.stats)
        process.stderr.write(
          engineStats(vm.cpu, performance.now() - startMs, threadTimesSince(startThread)),
        );
      if (recorder) {
        record?.beforeEnd?.();
        recorder.end(exit);
        await recorder.close();
      }
      if (gate.stoppedBy)
        process.stderr.write(
          `vmrs: ${gate.stoppedBy}; a replay could not know how much of it landed, so the recording stops here (it replays up to this point)\n`,
        );
      if (opts.saveSnapshotOnExit && exit.kind !== 'stopped') {
        // The guest shut itself down: a snapshot of it would never run again. Said even with -q.
        process.stderr.write(
          `vmrs: warning: no snapshot saved: the guest stopped itself (${exit.kind}); stop vmrs with Ctrl-A X or a signal to save a running machine\n`,
        );
      } else if (opts.saveSnapshotOnExit) {
        const bytes = captureSnapshot(vm, {
          formatVersion: SNAPSHOT_VERSION,
          vmrsVersion: VMRS_VERSION,
          createdUnixMs: Date.now(),
          ...describeMachine(config, parsed, devices.disks, false, new Map()),
        });
        // Written aside and renamed: an existing snapshot is never left half-overwritten.
        const tmp = `${opts.saveSnapshotOnExit}.tmp-${process.pid}`;
        writeFileSync(tmp, bytes);
        renameSync(tmp, opts.saveSnapshotOnExit);
        log(
          `saved snapshot at icount ${vm.cpu.icount} to ${opts.saveSnapshotOnExit} (${(bytes.length / 1048576).toFixed(1)} MiB)`,
        );
      }
      if (exit.kind === 'fail') log(`guest reported failure (code ${exit.status})`);
      return plugins?.failure ? 1 : exit.status;
    } finally {
      await debug?.close();
      console.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    await devices.close();
  }
}
