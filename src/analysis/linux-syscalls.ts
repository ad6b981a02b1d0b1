/**
 * The Linux system calls of RISC-V (the generic table,
 * include/uapi/asm-generic/unistd.h), with how to show their arguments:
 * what strace shows for the common ones. A call not listed shows its six
 * argument registers in hex.
 */

/** How an argument is shown. */
export type ArgKind =
  | 'int' // signed decimal
  | 'uint' // unsigned decimal
  | 'hex'
  | 'fd' // a descriptor; AT_FDCWD by name
  | 'path' // a NUL-terminated string in guest memory
  | 'wbuf' // bytes the call reads from the guest: length in the next argument
  | 'rbuf' // bytes the call writes into the guest: shown at the return, length = result
  | 'oflags' // open flags
  | 'mode' // octal
  | 'argv' // a NULL-terminated array of strings
  | 'sockaddr' // a socket address: length in the next argument
  | 'signal';

export interface SyscallInfo {
  name: string;
  args: ArgKind[];
}

const S = (name: string, ...args: ArgKind[]): SyscallInfo => ({ name, args });

export const SYSCALLS: Record<number, SyscallInfo> = {
  17: S('getcwd', 'rbuf', 'uint'),
  23: S('dup', 'fd'),
  24: S('dup3', 'fd', 'fd', 'hex'),
  25: S('fcntl', 'fd', 'int', 'hex'),
  29: S('ioctl', 'fd', 'hex', 'hex'),
  34: S('mkdirat', 'fd', 'path', 'mode'),
  35: S('unlinkat', 'fd', 'path', 'hex'),
  37: S('linkat', 'fd', 'path', 'fd', 'path', 'hex'),
  38: S('renameat', 'fd', 'path', 'fd', 'path'),
  39: S('umount2', 'path', 'hex'),
  40: S('mount', 'path', 'path', 'path', 'hex', 'hex'),
  46: S('ftruncate', 'fd', 'int'),
  48: S('faccessat', 'fd', 'path', 'int'),
  49: S('chdir', 'path'),
  53: S('fchmodat', 'fd', 'path', 'mode'),
  56: S('openat', 'fd', 'path', 'oflags', 'mode'),
  57: S('close', 'fd'),
  59: S('pipe2', 'hex', 'hex'),
  61: S('getdents64', 'fd', 'hex', 'uint'),
  62: S('lseek', 'fd', 'int', 'int'),
  63: S('read', 'fd', 'rbuf', 'uint'),
  64: S('write', 'fd', 'wbuf', 'uint'),
  65: S('readv', 'fd', 'hex', 'int'),
  66: S('writev', 'fd', 'hex', 'int'),
  67: S('pread64', 'fd', 'rbuf', 'uint', 'int'),
  68: S('pwrite64', 'fd', 'wbuf', 'uint', 'int'),
  71: S('sendfile', 'fd', 'fd', 'hex', 'uint'),
  72: S('pselect6', 'int', 'hex', 'hex', 'hex', 'hex', 'hex'),
  73: S('ppoll', 'hex', 'uint', 'hex', 'hex', 'uint'),
  78: S('readlinkat', 'fd', 'path', 'rbuf', 'uint'),
  79: S('newfstatat', 'fd', 'path', 'hex', 'hex'),
  80: S('fstat', 'fd', 'hex'),
  81: S('sync'),
  82: S('fsync', 'fd'),
  93: S('exit', 'int'),
  94: S('exit_group', 'int'),
  96: S('set_tid_address', 'hex'),
  98: S('futex', 'hex', 'int', 'int', 'hex', 'hex', 'int'),
  99: S('set_robust_list', 'hex', 'uint'),
  101: S('nanosleep', 'hex', 'hex'),
  113: S('clock_gettime', 'int', 'hex'),
  115: S('clock_nanosleep', 'int', 'int', 'hex', 'hex'),
  124: S('sched_yield'),
  129: S('kill', 'int', 'signal'),
  130: S('tkill', 'int', 'signal'),
  131: S('tgkill', 'int', 'int', 'signal'),
  134: S('rt_sigaction', 'signal', 'hex', 'hex', 'uint'),
  135: S('rt_sigprocmask', 'int', 'hex', 'hex', 'uint'),
  139: S('rt_sigreturn'),
  142: S('reboot', 'hex', 'hex', 'hex', 'hex'),
  153: S('times', 'hex'),
  154: S('setpgid', 'int', 'int'),
  155: S('getpgid', 'int'),
  157: S('setsid'),
  160: S('uname', 'hex'),
  165: S('getrusage', 'int', 'hex'),
  166: S('umask', 'mode'),
  167: S('prctl', 'int', 'hex', 'hex', 'hex', 'hex'),
  169: S('gettimeofday', 'hex', 'hex'),
  172: S('getpid'),
  173: S('getppid'),
  174: S('getuid'),
  175: S('geteuid'),
  176: S('getgid'),
  177: S('getegid'),
  178: S('gettid'),
  179: S('sysinfo', 'hex'),
  198: S('socket', 'int', 'int', 'int'),
  200: S('bind', 'fd', 'sockaddr', 'uint'),
  201: S('listen', 'fd', 'int'),
  202: S('accept', 'fd', 'hex', 'hex'),
  203: S('connect', 'fd', 'sockaddr', 'uint'),
  206: S('sendto', 'fd', 'wbuf', 'uint', 'hex', 'sockaddr', 'uint'),
  207: S('recvfrom', 'fd', 'rbuf', 'uint', 'hex', 'hex', 'hex'),
  208: S('setsockopt', 'fd', 'int', 'int', 'hex', 'uint'),
  210: S('shutdown', 'fd', 'int'),
  211: S('sendmsg', 'fd', 'hex', 'hex'),
  212: S('recvmsg', 'fd', 'hex', 'hex'),
  214: S('brk', 'hex'),
  215: S('munmap', 'hex', 'uint'),
  220: S('clone', 'hex', 'hex', 'hex', 'hex', 'hex'),
  221: S('execve', 'path', 'argv', 'hex'),
  222: S('mmap', 'hex', 'uint', 'hex', 'hex', 'fd', 'hex'),
  226: S('mprotect', 'hex', 'uint', 'hex'),
  233: S('madvise', 'hex', 'uint', 'int'),
  242: S('accept4', 'fd', 'hex', 'hex', 'hex'),
  260: S('wait4', 'int', 'hex', 'hex', 'hex'),
  261: S('prlimit64', 'int', 'int', 'hex', 'hex'),
  276: S('renameat2', 'fd', 'path', 'fd', 'path', 'hex'),
  278: S('getrandom', 'rbuf', 'uint', 'hex'),
  291: S('statx', 'fd', 'path', 'hex', 'hex', 'hex'),
  435: S('clone3', 'hex', 'uint'),
  439: S('faccessat2', 'fd', 'path', 'int', 'hex'),
};

/** Calls whose result is an address (shown in hex). */
export const ADDRESS_RESULT = new Set([214, 222]); // brk, mmap

export const SYSCALL_NUMBERS = new Map<string, number>(
  Object.entries(SYSCALLS).map(([nr, s]) => [s.name, Number(nr)]),
);

/** errno names (asm-generic/errno-base.h and the common ones of errno.h). */
export const ERRNO: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  6: 'ENXIO',
  7: 'E2BIG',
  8: 'ENOEXEC',
  9: 'EBADF',
  10: 'ECHILD',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  18: 'EXDEV',
  19: 'ENODEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  23: 'ENFILE',
  24: 'EMFILE',
  25: 'ENOTTY',
  27: 'EFBIG',
  28: 'ENOSPC',
  29: 'ESPIPE',
  30: 'EROFS',
  32: 'EPIPE',
  34: 'ERANGE',
  36: 'ENAMETOOLONG',
  38: 'ENOSYS',
  39: 'ENOTEMPTY',
  40: 'ELOOP',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH',
  104: 'ECONNRESET',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
  115: 'EINPROGRESS',
  512: 'ERESTARTSYS',
  513: 'ERESTARTNOINTR',
  514: 'ERESTARTNOHAND',
  516: 'ERESTART_RESTARTBLOCK',
};

/** Open flags (asm-generic/fcntl.h). */
const O_FLAGS: [number, string][] = [
  [0o100, 'O_CREAT'],
  [0o200, 'O_EXCL'],
  [0o400, 'O_NOCTTY'],
  [0o1000, 'O_TRUNC'],
  [0o2000, 'O_APPEND'],
  [0o4000, 'O_NONBLOCK'],
  [0o10000, 'O_DSYNC'],
  [0o200000, 'O_DIRECTORY'],
  [0o400000, 'O_NOFOLLOW'],
  [0o2000000, 'O_CLOEXEC'],
  [0o20000000, 'O_PATH'],
];

export function openFlags(v: number): string {
  const acc = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'][v & 3];
  const parts = [acc];
  let rest = v & ~3;
  for (const [bit, name] of O_FLAGS)
    if (rest & bit) {
      parts.push(name);
      rest &= ~bit;
    }
  if (rest) parts.push(`0${rest.toString(8)}`);
  return parts.join('|');
}

const SIGNALS = [
  '0',
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGILL',
  'SIGTRAP',
  'SIGABRT',
  'SIGBUS',
  'SIGFPE',
  'SIGKILL',
  'SIGUSR1',
  'SIGSEGV',
  'SIGUSR2',
  'SIGPIPE',
  'SIGALRM',
  'SIGTERM',
  'SIGSTKFLT',
  'SIGCHLD',
  'SIGCONT',
  'SIGSTOP',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGURG',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGVTALRM',
  'SIGPROF',
  'SIGWINCH',
  'SIGIO',
  'SIGPWR',
  'SIGSYS',
];

const AF: Record<number, string> = {
  1: 'AF_UNIX',
  2: 'AF_INET',
  10: 'AF_INET6',
  16: 'AF_NETLINK',
  17: 'AF_PACKET',
};

/** A socket address as strace shows it, from its bytes (`len` of them). */
export function sockaddr(b: Uint8Array): string {
  if (b.length < 2) return '{}';
  const family = b[0] | (b[1] << 8);
  const name = AF[family] ?? String(family);
  const port = b.length >= 4 ? (b[2] << 8) | b[3] : 0;
  if (family === 2 && b.length >= 8)
    return `{sa_family=AF_INET, sin_port=htons(${port}), sin_addr=inet_addr("${b[4]}.${b[5]}.${b[6]}.${b[7]}")}`;
  if (family === 10 && b.length >= 24) {
    const words: string[] = [];
    for (let i = 8; i < 24; i += 2) words.push(((b[i] << 8) | b[i + 1]).toString(16));
    return `{sa_family=AF_INET6, sin6_port=htons(${port}), sin6_addr="${words.join(':')}"}`;
  }
  if (family === 1) {
    let path = '';
    for (let i = 2; i < b.length && b[i] !== 0; i++) path += String.fromCharCode(b[i]);
    return `{sa_family=AF_UNIX, sun_path=${JSON.stringify(path)}}`;
  }
  return `{sa_family=${name}}`;
}

export function signalName(v: number): string {
  return SIGNALS[v] ?? String(v);
}
