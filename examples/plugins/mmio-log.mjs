// A vmrs plugin: the guest programming its devices. It counts the guest
// instructions' accesses to device registers (MMIO) by device and register,
// and prints a table at the end of the replay; with `trace`, each access as
// it happens.
//
//   vmrs replay rec.vmrs --plugin examples/plugins/mmio-log.mjs                 # by device, its busiest registers
//   vmrs replay rec.vmrs --plugin examples/plugins/mmio-log.mjs,top=100         # up to 100 registers a device
//   vmrs replay rec.vmrs --plugin examples/plugins/mmio-log.mjs,trace           # and every access
//   vmrs replay rec.vmrs --plugin examples/plugins/mmio-log.mjs,device=uart     # only devices named so
//
// On QEMU's virt board the devices are all below RAM (0x80000000): the
// plugin watches that physical range, so RAM accesses never reach it. A
// memory hook runs the replay on the interpreter, one instruction at a time.

const hex = (v) => `0x${v.toString(16)}`;
const counts = (r) => `${String(r.reads).padStart(8)} reads ${String(r.writes).padStart(8)} writes`;

export default function mmioLog(vmrs) {
  const trace = vmrs.args.includes('trace');
  const only = vmrs.args.find((a) => a.startsWith('device='))?.slice('device='.length);
  const topArg = vmrs.args.find((a) => a.startsWith('top='));
  const top = topArg ? Number(topArg.slice('top='.length)) : 8;
  /** device name -> { reads, writes, registers: offset -> { offset, reads, writes } } */
  const devices = new Map();
  let total = 0;

  vmrs.onMemory(
    (m) => {
      if (m.device === undefined) return; // not a device (nothing answers there: the access faulted)
      if (only && !m.device.includes(only)) return;
      total++;
      let d = devices.get(m.device);
      if (!d) devices.set(m.device, (d = { reads: 0, writes: 0, registers: new Map() }));
      let r = d.registers.get(m.offset);
      if (!r) d.registers.set(m.offset, (r = { offset: m.offset, reads: 0, writes: 0 }));
      const field = m.write ? 'writes' : 'reads';
      d[field]++;
      r[field]++;
      if (trace)
        vmrs.print(
          `mmio ${m.icount} pc=${hex(m.pc)} ${m.write ? 'write' : 'read'} ${m.device} +${hex(m.offset)} ${m.size} ${hex(m.value)}`,
        );
    },
    { from: 0, to: 0x80000000, kind: 'both', physical: true },
  );

  vmrs.onEnd((end) => {
    vmrs.print(
      `mmio-log: ${total} device register accesses up to icount ${end.icount} (${end.state})`,
    );
    for (const name of [...devices.keys()].sort()) {
      const d = devices.get(name);
      vmrs.print(`  ${name.padEnd(30)} ${counts(d)}`);
      // The busiest registers, in address order.
      const busiest = [...d.registers.values()]
        .sort((a, b) => b.reads + b.writes - (a.reads + a.writes) || a.offset - b.offset)
        .slice(0, top)
        .sort((a, b) => a.offset - b.offset);
      for (const r of busiest) vmrs.print(`    +${hex(r.offset).padEnd(27)} ${counts(r)}`);
      const more = d.registers.size - busiest.length;
      if (more > 0) vmrs.print(`    … ${more} more register${more === 1 ? '' : 's'}`);
    }
  });
}
