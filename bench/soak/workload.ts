/**
 * The shell commands of a soak workload, each with a check of what the
 * guest printed (a failed check is a failure of the recorded session, not
 * a divergence: replay must reproduce it all the same).
 */
import { createHash } from 'node:crypto';
import { hostUrlFromGuest } from '../../test/helpers/host-tools.js';
import type { Action, VmPlan, WireOp } from './plan.js';

export interface GuestCommand {
  /** The shell line, without the markers around it. */
  text: string;
  /** What the output between the markers must show (undefined: anything). */
  expect?: RegExp;
}

export interface HostSide {
  /** The host's payload server, as the guest reaches it. */
  payloadPort: number;
  payload: Uint8Array;
}

export const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** The address of end `i` of a wire. */
export const wireAddress = (i: number): string => `10.9.0.${i + 1}`;

export function commandFor(a: Action, vm: VmPlan, host: HostSide): GuestCommand {
  const n = a.n;
  switch (a.kind) {
    case 'echo':
      return { text: `echo soak-$((${n}*3))`, expect: new RegExp(`soak-${n * 3}\\r?\\n`) };
    case 'cpu':
      return {
        text: `i=0; while [ $i -lt ${n} ]; do i=$((i+1)); done; echo cpu-$i`,
        expect: new RegExp(`cpu-${n}\\r?\\n`),
      };
    case 'urandom':
      return {
        text: `dd if=/dev/urandom bs=1k count=${n} 2>/dev/null | md5sum`,
        expect: /[0-9a-f]{32}/,
      };
    case 'proc':
      return {
        text: 'cat /proc/uptime /proc/loadavg; date; ls /dev | wc -l; wc -l < /proc/interrupts',
        expect: /\d+\.\d+ \d+\.\d+/,
      };
    case 'sleep':
      return { text: `sleep ${(n / 10).toFixed(1)}` };
    case 'seq':
      return { text: `seq 1 ${n}`, expect: new RegExp(`\\n${n}\\r?\\n`) };
    case 'hwrng':
      return { text: `head -c ${n} /dev/hwrng | md5sum`, expect: /[0-9a-f]{32}/ };
    case 'disk-write':
      return {
        text: `dd if=/dev/urandom of=/mnt/f${a.id} bs=1k count=${n} 2>/dev/null; sync; md5sum /mnt/f${a.id}`,
        expect: new RegExp(`[0-9a-f]{32}  /mnt/f${a.id}`),
      };
    case 'disk-read':
      return {
        text: 'sync; echo 3 > /proc/sys/vm/drop_caches; for f in /mnt/f*; do [ -e "$f" ] && md5sum "$f"; done; ls /mnt | wc -l',
      };
    case 'disk-raw':
      return {
        text: `dd if=/dev/vda bs=4k count=${Math.max(1, n >> 2)} 2>/dev/null | md5sum`,
        expect: /[0-9a-f]{32}/,
      };
    case 'disk-rm':
      return { text: 'rm -f /mnt/f*; sync; df -k /mnt | tail -1', expect: /\/mnt/ };
    case 'wget':
      return {
        text: `wget -q -O - ${hostUrlFromGuest(host.payloadPort)}${n} | md5sum`,
        expect: new RegExp(md5(host.payload.subarray(0, n))),
      };
    case 'ping-gw':
      // Whether passt answers ICMP depends on the host; the frames are what counts here.
      return {
        text: `ping -c ${n} -W 2 $(ip route | awk '/default/ {print $3}') >/dev/null 2>&1; echo ping-done`,
        expect: /ping-done/,
      };
    case 'httpd':
      return {
        text: `mkdir -p /www && echo page-${a.id} > /www/index.html && httpd -p 80 -h /www && echo httpd-up`,
        expect: /httpd-up/,
      };
    case 'other-console':
      // Output on the console stdio is not on: hvc0 (to its file), or the UART when hvc0 has the shell.
      return {
        text: `seq 1 ${n} > ${vm.hvc === 'stdio' ? '/dev/ttyS0' : '/dev/hvc0'}; echo other-done`,
        expect: /other-done/,
      };
    case 'ctrl-c':
      return { text: 'sleep 30' };
  }
}

/** The page the guest's web server (action 'httpd') serves. */
export const hostfwdPage = (vm: VmPlan): string =>
  `page-${vm.actions.find((a) => a.kind === 'httpd')?.id}`;

/** Wire traffic: what each end types, in order. */
export function wireCommands(op: WireOp): { on: 0 | 1; cmd: GuestCommand }[] {
  if (op.op === 'ping') {
    const to = wireAddress(1 - op.from);
    return [
      {
        on: op.from,
        cmd: { text: `ping -c ${op.count} -W 5 ${to}`, expect: /[1-9]\d* packets received/ },
      },
    ];
  }
  const server = op.server;
  return [
    {
      on: server,
      cmd: {
        text: `mkdir -p /wire && dd if=/dev/urandom of=/wire/blob bs=1k count=${op.kib} 2>/dev/null && md5sum /wire/blob && (httpd -p 8000 -h /wire 2>/dev/null; true)`,
        expect: /[0-9a-f]{32} {2}\/wire\/blob/,
      },
    },
    {
      on: (1 - server) as 0 | 1,
      cmd: {
        text: `wget -q -O - http://${wireAddress(server)}:8000/blob | md5sum`,
        expect: /[0-9a-f]{32}/,
      },
    },
  ];
}

/** Bring up end `i` of a wire (the guest has no DHCP there). */
export const wireSetup = (i: number): GuestCommand => ({
  text: `ip addr add ${wireAddress(i)}/24 dev eth0; ip link set eth0 up; echo wire-up`,
  expect: /wire-up/,
});
