/**
 * Boots the default Linux guest under vmrs (OpenSBI → Linux 6.1 → busybox),
 * types commands on the console as a person would, checks what they print,
 * then powers the guest off and checks vmrs's exit status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestSession } from '../helpers/guest-session.js';

test('default Linux guest boots to a shell, runs commands and powers off', async () => {
  const vm = new GuestSession(['run', '-q']);
  try {
    await vm.waitFor(/[#$] $/m);
    const uname = await vm.shell('uname -a');
    assert.match(uname, /Linux \S+ 6\.1\.\d+.* riscv64/);

    const cpuinfo = await vm.shell('cat /proc/cpuinfo');
    assert.match(cpuinfo, /isa\s*:\s*rv64imafdc/);
    assert.match(cpuinfo, /mmu\s*:\s*sv(39|48)/);

    const pipeline = await vm.shell('echo hello vmrs world | tr a-z A-Z | wc -c');
    assert.equal(pipeline.trim(), '17');

    const arith = await vm.shell(
      'i=0; s=0; while [ $i -lt 200 ]; do s=$((s+i*i)); i=$((i+1)); done; echo $s',
    );
    assert.equal(arith.trim(), '2646700');

    vm.type('poweroff -f\n');
    const status = await vm.exited;
    assert.equal(status, 0, `exit status; stderr: ${vm.stderr}`);
  } finally {
    vm.kill();
  }
});
