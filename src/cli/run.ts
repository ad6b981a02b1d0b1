/** `vmrs run`: boot a machine with the console on stdio. */
import type { Command } from 'commander';
import { parseMemorySize, readImage, UsageError } from './options.js';
import { VirtMachine, type VirtConfig } from '../machine/virt.js';
import { StdioConsole } from '../host/stdio-console.js';
import { RunLoop } from '../host/run-loop.js';
import { findFirmware } from '../host/firmware.js';
import { ensureDefaultGuest } from '../host/default-guest.js';
import { randomFillSync } from 'node:crypto';
import { Gate } from '../replay/gate.js';
import type { Recorder } from '../replay/recorder.js';
import { openDevices, parseDevices, type DiskInfo, type ParsedDevices } from './devices.js';

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
}

const collect = (v: string, prev: string[]) => [...prev, v];

export const DEFAULT_APPEND = 'console=ttyS0 earlycon=sbi';

export function addMachineOptions(cmd: Command): Command {
  return cmd
    .option(
      '--bios <file>',
      "M-mode firmware (ELF or binary), or 'none' to start the kernel in M-mode (default: OpenSBI fw_dynamic)",
    )
    .option(
      '--kernel <file>',
      'Linux Image or ELF (default: the default guest, built on first use)',
    )
    .option(
      '--initrd <file>',
      "initial ramdisk (default: the default guest's initramfs when no --kernel is given)",
    )
    .option('--append <cmdline>', 'kernel command line', undefined)
    .option('-m, --memory <size>', 'guest RAM (e.g. 256M, 1G; a plain number is MiB)', '256M')
    .option('--insns-per-tick <n>', 'guest instructions per 10 MHz timer tick', '10')
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
    .option('-q, --quiet', 'no progress messages from vmrs itself');
}

/** Resolve the options into a machine configuration (reads the images; throws UsageError on bad input). */
export async function machineConfig(
  opts: MachineOptions,
  log: (s: string) => void,
  devices?: ParsedDevices,
): Promise<VirtConfig> {
  const memoryBytes = parseMemorySize(opts.memory);
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
  let bios: Uint8Array | 'none';
  let biosName: string;
  if (opts.bios === 'none') {
    bios = 'none';
    biosName = 'none';
  } else {
    biosName = opts.bios ?? findFirmware('fw_dynamic');
    bios = readImage('firmware', biosName);
  }
  return {
    memoryBytes,
    bios,
    biosName,
    kernel: readImage('kernel', kernelPath!),
    kernelName: kernelPath,
    initrd: initrdPath ? readImage('initrd', initrdPath) : undefined,
    initrdName: initrdPath,
    append,
    insnsPerTick: ipt,
    rtcStartUnixNs: Date.now() * 1e6,
  };
}

/** What record mode adds to a run: a recorder, and disks that keep their base images unchanged. */
export interface RecordMode {
  /** Build the recorder once the machine's configuration and devices are known. */
  makeRecorder(config: VirtConfig, devices: ParsedDevices, disks: DiskInfo[]): Recorder;
  /** Called about once a second: cut a chunk so a killed recording loses little. */
  flushEvery?: number;
}

export async function runCommand(opts: MachineOptions, record?: RecordMode): Promise<number> {
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`[vmrs] ${s}\n`);
  };
  const parsed = parseDevices(opts);
  const config = await machineConfig(opts, log, parsed);
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
    const recorder = record?.makeRecorder(config, parsed, devices.disks);
    sink.recorder = recorder;
    const vm = new VirtMachine({ ...config, virtio: devices.specs }, (b) => console.write(b));
    gate.attach(vm);
    recorder?.attach(vm);
    let lastFlush = performance.now();
    const loop = new RunLoop(vm, gate, {
      afterSlice: () => {
        console.flush();
        if (recorder && performance.now() - lastFlush > (record?.flushEvery ?? 1000)) {
          recorder.flush();
          lastFlush = performance.now();
        }
      },
      nextStop: recorder ? () => recorder.nextDigestAt : undefined,
      atStop: recorder ? () => recorder.digestNow() : undefined,
    });
    ref.vm = vm;
    ref.loop = loop;
    const onSignal = () => loop.stop({ kind: 'stopped', status: 130 });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    console.start();
    try {
      const exit = await loop.run();
      console.flush();
      recorder?.end(exit);
      if (exit.kind === 'fail') log(`guest reported failure (code ${exit.status})`);
      return exit.status;
    } finally {
      console.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    await devices.close();
  }
}
