// A vmrs plugin: counts the guest's Linux system calls by name, the traps
// by cause, and the address-space switches (satp writes), and prints a
// table at the end of the replay.
//
//   vmrs replay rec.vmrs --plugin examples/plugins/syscall-count.mjs
//   vmrs replay rec.vmrs --plugin examples/plugins/syscall-count.mjs,top=5
//
// A system call on RISC-V Linux is an `ecall` from user mode: its number
// is in a7 (the generic table, include/uapi/asm-generic/unistd.h).

const NAMES = {
  17: 'getcwd', 23: 'dup', 24: 'dup3', 25: 'fcntl', 29: 'ioctl', 34: 'mkdirat',
  35: 'unlinkat', 48: 'faccessat', 49: 'chdir', 56: 'openat', 57: 'close', 59: 'pipe2',
  61: 'getdents64', 62: 'lseek', 63: 'read', 64: 'write', 65: 'readv', 66: 'writev',
  72: 'pselect6', 73: 'ppoll', 78: 'readlinkat', 79: 'newfstatat', 80: 'fstat',
  93: 'exit', 94: 'exit_group', 96: 'set_tid_address', 98: 'futex', 99: 'set_robust_list',
  101: 'nanosleep',
  113: 'clock_gettime', 124: 'sched_yield', 129: 'kill', 134: 'rt_sigaction',
  135: 'rt_sigprocmask', 139: 'rt_sigreturn', 153: 'times', 154: 'setpgid',
  155: 'getpgid', 157: 'setsid', 160: 'uname', 167: 'prctl', 172: 'getpid',
  173: 'getppid', 174: 'getuid', 175: 'geteuid', 176: 'getgid', 177: 'getegid',
  178: 'gettid', 179: 'sysinfo', 198: 'socket', 200: 'bind', 203: 'connect',
  206: 'sendto', 207: 'recvfrom', 214: 'brk', 215: 'munmap', 220: 'clone',
  221: 'execve', 222: 'mmap', 226: 'mprotect', 260: 'wait4', 261: 'prlimit64',
  278: 'getrandom', 291: 'statx',
};

export default function syscallCount(vmrs) {
  const topArg = vmrs.args.find((a) => a.startsWith('top='));
  const top = topArg ? Number(topArg.slice(4)) : 15;
  const syscalls = new Map();
  const traps = new Map();
  let switches = 0;
  const bump = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);

  vmrs.onTrap((t) => {
    bump(traps, t.name);
    if (t.name === 'ecall-u') {
      const nr = Number(vmrs.guest.x('a7'));
      bump(syscalls, NAMES[nr] ?? `syscall_${nr}`);
    }
  });
  vmrs.onCsrWrite(() => switches++, ['satp']);

  vmrs.onEnd((end) => {
    const total = [...syscalls.values()].reduce((a, b) => a + b, 0);
    vmrs.print(`syscall-count: ${total} system calls up to icount ${end.icount} (${end.state})`);
    const rows = [...syscalls].sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [name, n] of rows) vmrs.print(`  ${String(n).padStart(8)}  ${name}`);
    vmrs.print('syscall-count: traps by cause');
    for (const [name, n] of [...traps].sort((a, b) => b[1] - a[1]))
      vmrs.print(`  ${String(n).padStart(8)}  ${name}`);
    vmrs.print(`syscall-count: ${switches} satp writes`);
  });
}
