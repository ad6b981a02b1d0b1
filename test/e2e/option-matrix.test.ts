/**
 * Every machine option, recorded and replayed the way a user runs them:
 * each session is recorded with its host backends (a wire and its peer,
 * passt, disk images, entropy) and then replayed alone, from the file only,
 * with the same console output, the same exit status and every state
 * digest verified.
 *
 * Disks in every mode (snapshot=on, a new overlay, read-only with a
 * serial) with -m, --append and --hvc file; passt with a forwarded port and
 * a second NIC with --rng, --hvc stdio and -m 1G. The wire (`--net socket`)
 * from both ends: a listening VM with no peer, one
 * whose peer comes, goes and comes back, a connecting VM whose peer hangs
 * up, and two VMs pinging each other. The host peers here are test code
 * speaking the wire's framing, answered by the guest's own ARP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FramedStream } from '../../src/host/net-stream.js';
import { encodeHeader, type RecordingHeader } from '../../src/replay/log-format.js';
import {
  PROMPT,
  assertReplays,
  finishRecording,
  recordSession,
  startRecording,
} from '../helpers/recording.js';
import { GuestSession } from '../helpers/guest-session.js';
import { freePort, makeExt2 } from '../helpers/host-tools.js';
import { fileDigest } from '../../src/host/file-digest.js';
import { needTools } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-matrix-'));
const NODHCP = 'console=ttyS0 quiet vmrs.nodhcp';

// --- a host peer on the wire, speaking its framing (4-byte length, frame)

const PEER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x09);
const PEER_IP = Uint8Array.of(10, 0, 0, 9);
const GUEST_MAC = '52:54:00:00:00:01';
const GUEST_IP = Uint8Array.of(10, 0, 0, 1);

class WirePeer {
  readonly frames: Uint8Array[] = [];
  private waiters: (() => void)[] = [];
  private readonly stream: FramedStream;
  closed = false;

  constructor(socket: Socket) {
    this.stream = new FramedStream(
      socket,
      (f) => {
        this.frames.push(f);
        this.wakeAll();
      },
      () => {
        this.closed = true;
        this.wakeAll();
      },
    );
  }

  static dial(path: string): Promise<WirePeer> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new WirePeer(s)));
      s.once('error', reject);
    });
  }

  private wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  send(frame: Uint8Array): void {
    this.stream.send(frame);
  }

  /** The first frame received (so far or later) that `pred` accepts. */
  async waitFrame(pred: (f: Uint8Array) => boolean, what: string): Promise<Uint8Array> {
    const deadline = Date.now() + 120_000; // a safety net against a hung guest, not a timing assertion
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.closed) throw new Error(`the wire closed before ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what} on the wire`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.stream.close();
  }
}

const macBytes = (s: string) => Uint8Array.from(s.split(':'), (h) => parseInt(h, 16));
const macText = (m: Uint8Array) => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
const ipText = (a: Uint8Array) => a.join('.');

/** An ARP request (RFC 826) from the peer: who has `target`? */
function arpRequest(target: Uint8Array): Uint8Array {
  const f = new Uint8Array(60); // padded to Ethernet's minimum
  f.fill(0xff, 0, 6);
  f.set(PEER_MAC, 6);
  f.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12);
  f.set(PEER_MAC, 22);
  f.set(PEER_IP, 28);
  f.set(target, 38);
  return f;
}

/** An ARP reply to the peer, saying that `ip` is at `mac`. */
const isArpReply = (mac: Uint8Array, ip: Uint8Array) => (f: Uint8Array) =>
  f.length >= 42 &&
  f[12] === 0x08 &&
  f[13] === 0x06 &&
  f[21] === 2 &&
  macText(f.subarray(22, 28)) === macText(mac) &&
  ipText(f.subarray(28, 32)) === ipText(ip) &&
  macText(f.subarray(0, 6)) === macText(PEER_MAC);

/** Guest shell: bring eth0 up at `ip`. */
const ifUp = (ip: string) => `ip addr add ${ip}/24 dev eth0; ip link set eth0 up`;
/** Guest shell: wait until the carrier is `v`, as the guest's driver sees it. */
const carrier = (v: 0 | 1) =>
  `until [ "$(cat /sys/class/net/eth0/carrier)" = ${v} ]; do sleep 0.1; done; echo carrier=${v}`;

/** The peer asks for the guest's address; the guest answers and learns the peer's. */
async function arpExchange(vm: GuestSession, peer: WirePeer): Promise<void> {
  peer.send(arpRequest(GUEST_IP));
  await peer.waitFrame(isArpReply(macBytes(GUEST_MAC), GUEST_IP), "the guest's ARP reply");
  assert.match(
    await vm.shell('ip neigh show dev eth0'),
    new RegExp(`${ipText(PEER_IP).replace(/\./g, '\\.')} .*lladdr ${macText(PEER_MAC)}`),
  );
}

test('disks in every mode, -m, --append and --hvc file; replayed from the untouched base images', async () => {
  const [a, b, c] = ['a', 'b', 'c'].map((n) => makeExt2(join(dir, `${n}.img`), 8));
  const before = [a, b, c].map((f) => fileDigest(f));
  const overlay = join(dir, 'b.ovl');
  const hvcLog = join(dir, 'hvc.log');
  const rec = await recordSession(
    join(dir, 'disks.vmrs'),
    [
      ...['--drive', `file=${a},snapshot=on`],
      ...['--drive', `file=${b},overlay=${overlay}`],
      ...['--drive', `file=${c},readonly=on,serial=matrix-c`],
      ...['--hvc', `file=${hvcLog}`, '-m', '100M', '--append', 'console=ttyS0 quiet matrix=1'],
    ],
    async (vm) => {
      const out = await vm.shell(
        [
          'echo on-a > /mnt/a.txt', // the default guest mounts vda on /mnt
          'mkdir -p /b /c',
          'mount /dev/vdb /b',
          'echo on-b > /b/b.txt',
          'mount -o ro /dev/vdc /c',
          '(echo x > /c/x) 2>/dev/null || echo c-refuses-writes',
          'echo serial=$(cat /sys/block/vdc/serial)',
          'sync',
          'cat /mnt/a.txt /b/b.txt',
          'grep -o matrix=1 /proc/cmdline',
          'awk \'/MemTotal/ {print "mem", int($2 / 1024)}\' /proc/meminfo',
          'echo through-hvc > /dev/hvc0',
        ].join('; '),
      );
      assert.match(out, /c-refuses-writes\nserial=matrix-c\non-a\non-b\nmatrix=1\nmem (\d+)/);
      const mib = Number(/mem (\d+)/.exec(out)![1]);
      assert.ok(mib > 64 && mib <= 100, `MemTotal ${mib} MiB with -m 100M`);
    },
  );
  assert.deepEqual(
    [a, b, c].map((f) => fileDigest(f)),
    before,
    'recording left the base images as they were',
  );
  assert.ok(statSync(overlay).size > 0, "vdb's writes went to its overlay");
  assert.match(readFileSync(hvcLog, 'utf8'), /through-hvc/);
  assertReplays(rec, 'disks');
});

test('--net user with a forwarded port and a second NIC, --rng, --hvc stdio, -m 1G; replayed', async (t) => {
  if (!needTools(t, 'passt')) return;
  const hostPort = await freePort();
  const rec = await recordSession(
    join(dir, 'devices.vmrs'),
    [
      ...['--net', `user,hostfwd=tcp::${hostPort}-:80`, '--net', 'user,mac=52:54:00:00:00:22'],
      ...['--rng', '--hvc', 'stdio', '-m', '1G'],
    ],
    async (vm) => {
      const out = await vm.shell(
        [
          'tty',
          'cat /sys/class/net/eth1/address',
          'head -c 64 /dev/hwrng | wc -c',
          'awk \'/MemTotal/ {print "mem", int($2 / 1024)}\' /proc/meminfo',
          'mkdir -p /www && echo page-$((6*7)) > /www/index.html && httpd -p 80 -h /www',
        ].join('; '),
      );
      assert.match(out, /hvc0|console/);
      assert.match(out, /^52:54:00:00:00:22$/m);
      assert.match(out, /^64$/m);
      const mib = Number(/mem (\d+)/.exec(out)![1]);
      assert.ok(mib > 900 && mib <= 1024, `MemTotal ${mib} MiB with -m 1G`);
      const res = await fetch(`http://127.0.0.1:${hostPort}/`);
      assert.equal((await res.text()).trim(), 'page-42');
      await vm.shell('head -c 16 /dev/hwrng | md5sum');
    },
  );
  assertReplays(rec, 'passt, two NICs, rng, hvc');
});

test('--net socket,listen with no peer: the link stays down; recorded and replayed', async () => {
  const wire = join(dir, 'lonely.wire');
  const rec = await recordSession(
    join(dir, 'listen-alone.vmrs'),
    ['--net', `socket,listen=${wire},mac=${GUEST_MAC}`, '--append', NODHCP],
    async (vm) => {
      const out = await vm.shell(
        `${ifUp('10.0.0.1')}; cat /sys/class/net/eth0/carrier /sys/class/net/eth0/address; ping -c 1 -W 1 10.0.0.2 | grep transmitted`,
      );
      assert.match(
        out,
        new RegExp(`^0\\n${GUEST_MAC}\\n1 packets transmitted, 0 packets received`),
      );
    },
  );
  assertReplays(rec, 'listen end, no peer');
});

test('--net socket,listen with a peer that comes, goes and comes back; recorded and replayed', async () => {
  const wire = join(dir, 'peer.wire');
  const rec = await recordSession(
    join(dir, 'listen-peer.vmrs'),
    ['--net', `socket,listen=${wire},mac=${GUEST_MAC}`, '--append', NODHCP],
    async (vm) => {
      assert.match(
        await vm.shell(`${ifUp(ipText(GUEST_IP))}; cat /sys/class/net/eth0/carrier`),
        /^0$/m,
      );
      let peer = await WirePeer.dial(wire);
      await vm.shell(carrier(1));
      await arpExchange(vm, peer);
      peer.close();
      await vm.shell(carrier(0));
      peer = await WirePeer.dial(wire); // the cable back in
      await vm.shell(carrier(1));
      peer.send(arpRequest(GUEST_IP));
      await peer.waitFrame(isArpReply(macBytes(GUEST_MAC), GUEST_IP), 'a second ARP reply');
      peer.close();
    },
  );
  assertReplays(rec, 'listen end with a peer');
  // Before the link state at start went through the gate, vmrs wrote linkUp: true for
  // every NIC, though a listening one always started down: such recordings replay too.
  const old = join(dir, 'listen-peer-old.vmrs');
  writeFileSync(
    old,
    withHeader(rec.file, (h) => h.devices.forEach((d) => d.kind === 'net' && (d.linkUp = true))),
  );
  assertReplays({ ...rec, file: old }, 'listen end with a peer, as older vmrs wrote it');
});

/** The recording `file` with its header changed by `edit` (layout: magic, version, length, JSON, CRC). */
function withHeader(file: string, edit: (h: RecordingHeader) => void): Uint8Array {
  const bytes = new Uint8Array(readFileSync(file));
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const h = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + len))) as RecordingHeader;
  edit(h);
  const head = encodeHeader(h);
  const out = new Uint8Array(head.length + bytes.length - (20 + len));
  out.set(head);
  out.set(bytes.subarray(20 + len), head.length);
  return out;
}

test('--net socket,connect to a peer that hangs up; recorded and replayed', async () => {
  const wire = join(dir, 'host.wire');
  const server = createServer();
  await new Promise<void>((r) => server.listen(wire, r));
  const accepted = new Promise<WirePeer>((r) =>
    server.once('connection', (s) => r(new WirePeer(s))),
  );
  try {
    const rec = await recordSession(
      join(dir, 'connect.vmrs'),
      ['--net', `socket,connect=${wire},mac=${GUEST_MAC}`, '--append', NODHCP],
      async (vm) => {
        const peer = await accepted;
        // Connected before the guest booted: its link is up from the start.
        assert.match(await vm.shell(`${ifUp(ipText(GUEST_IP))}; ${carrier(1)}`), /carrier=1/);
        await arpExchange(vm, peer);
        peer.close();
        await vm.shell(carrier(0));
      },
    );
    assertReplays(rec, 'connect end');
  } finally {
    server.close();
  }
});

test('a snapshot taken with a peer on the wire, recorded on with none: the link goes down in the recording', async () => {
  const snap = join(dir, 'wired.snap');
  const live = new GuestSession([
    ...['run', '-q', '--net', `socket,listen=${join(dir, 'snap.wire')},mac=${GUEST_MAC}`],
    ...['--append', NODHCP, '--save-snapshot-on-exit', snap],
  ]);
  try {
    await live.waitFor(PROMPT);
    const peer = await WirePeer.dial(join(dir, 'snap.wire'));
    await live.shell(`${ifUp(ipText(GUEST_IP))}; ${carrier(1)}`);
    live.child.kill('SIGTERM'); // saved with its link up
    assert.equal(await live.exited, 130, live.stderr);
    peer.close();
  } finally {
    live.kill();
  }
  // The restored NIC says link up; the new wire has no peer: that news enters through the gate.
  const file = join(dir, 'from-snapshot.vmrs');
  const vm = new GuestSession([
    ...['record', '-q', '-o', file, '--load-snapshot', snap],
    ...['--net', `socket,listen=${join(dir, 'snap2.wire')},mac=${GUEST_MAC}`],
  ]);
  try {
    assert.match(await vm.shell(carrier(0), 120_000), /carrier=0/);
    assertReplays(await finishRecording(vm, file), 'from a snapshot');
  } finally {
    vm.kill();
  }
});

test('two VMs on one wire ping each other; each recording replays alone', async () => {
  const wire = join(dir, 'pair.wire');
  const fa = join(dir, 'pair-a.vmrs');
  const fb = join(dir, 'pair-b.vmrs');
  const a = await startRecording(fa, [
    '--net',
    `socket,listen=${wire},mac=52:54:00:00:00:0a`,
    '--append',
    NODHCP,
  ]);
  let b: GuestSession | undefined;
  try {
    b = await startRecording(fb, [
      '--net',
      `socket,connect=${wire},mac=52:54:00:00:00:0b`,
      '--append',
      NODHCP,
    ]);
    await a.shell(`${ifUp('10.0.0.1')}; ${carrier(1)}`);
    await b.shell(`${ifUp('10.0.0.2')}; ${carrier(1)}`);
    const received = (out: string) => Number(/(\d+) packets received/.exec(out)?.[1] ?? 0);
    const ab = await a.shell('ping -c 3 10.0.0.2');
    assert.ok(received(ab) >= 2, ab);
    const ba = await b.shell('ping -c 3 10.0.0.1');
    assert.ok(received(ba) >= 2, ba);
    assert.match(await a.shell('ip neigh'), /10\.0\.0\.2 .*lladdr 52:54:00:00:00:0b/);
    const recB = await finishRecording(b, fb);
    await a.shell(carrier(0)); // B's end of the wire went with it
    const recA = await finishRecording(a, fa);
    assertReplays(recA, 'VM A (listening) replayed alone');
    assertReplays(recB, 'VM B (connecting) replayed alone');
  } finally {
    a.kill();
    b?.kill();
  }
});
