/**
 * What a task's file descriptor names, read from the guest kernel's own
 * structures with offsets from its DWARF (`vmrs trace -y`, as strace's
 * -y): task->files->fdt->fd[n] is the open file; its f_path's dentry
 * chain, climbing through mounts as the kernel's d_path does
 * (fs/d_path.c: at a mount's root, go on from where it is mounted), is the
 * path. Pipes and sockets have no path: they are shown as the kernel shows
 * them in /proc/PID/fd, `pipe:[INODE]`, `socket:[INODE]`.
 *
 * Everything is read through the MMU as the hart sees it now (the kernel
 * is mapped in every address space), without side effects; a structure
 * that cannot be read gives no name rather than a wrong one.
 */
import type { GuestView } from '../plugin/plugin-api.js';
import type { DwarfStructs } from './dwarf.js';

/** Byte offsets of the members followed (plain numbers: they travel to worker threads and queues). */
export interface FileLayout {
  taskFiles: number;
  filesFdt: number;
  fdtMaxFds: number;
  fdtFd: number;
  fileMnt: number;
  fileDentry: number;
  dentryParent: number;
  dentryName: number;
  dentrySb: number;
  dentryInode: number;
  inodeIno: number;
  sbType: number;
  fsTypeName: number;
  mountMnt: number;
  mountParent: number;
  mountMountpoint: number;
  vfsmountRoot: number;
}

/** The layout from a kernel's DWARF; undefined if any member is missing. */
export function fileLayoutOf(d: DwarfStructs): FileLayout | undefined {
  const want: Record<keyof FileLayout, [string, string]> = {
    taskFiles: ['task_struct', 'files'],
    filesFdt: ['files_struct', 'fdt'],
    fdtMaxFds: ['fdtable', 'max_fds'],
    fdtFd: ['fdtable', 'fd'],
    fileMnt: ['file', 'f_path.mnt'],
    fileDentry: ['file', 'f_path.dentry'],
    dentryParent: ['dentry', 'd_parent'],
    dentryName: ['dentry', 'd_name.name'],
    dentrySb: ['dentry', 'd_sb'],
    dentryInode: ['dentry', 'd_inode'],
    inodeIno: ['inode', 'i_ino'],
    sbType: ['super_block', 's_type'],
    fsTypeName: ['file_system_type', 'name'],
    mountMnt: ['mount', 'mnt'],
    mountParent: ['mount', 'mnt_parent'],
    mountMountpoint: ['mount', 'mnt_mountpoint'],
    vfsmountRoot: ['vfsmount', 'mnt_root'],
  };
  const out: Partial<FileLayout> = {};
  for (const [k, [s, m]] of Object.entries(want)) {
    const o = d.offsetOf(s, m);
    if (o === undefined) return undefined;
    out[k as keyof FileLayout] = o;
  }
  return out as FileLayout;
}

/** Pseudo filesystems whose files have no path, shown as /proc/PID/fd shows them. */
const PSEUDO: Record<string, string> = { pipefs: 'pipe', sockfs: 'socket' };
const MAX_DEPTH = 64;

export class FdPaths {
  constructor(
    private readonly guest: GuestView,
    private readonly l: FileLayout,
  ) {}

  private ptr(addr: bigint): bigint | undefined {
    if (addr === 0n) return undefined;
    const b = this.guest.read(addr, 8);
    if (b.length < 8) return undefined;
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    return v === 0n ? undefined : v;
  }

  private u32(addr: bigint): number | undefined {
    const b = this.guest.read(addr, 4);
    return b.length < 4 ? undefined : new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  /** What `fd` of the task at `task` (its task_struct) names, or undefined (not open, unreadable). */
  name(task: bigint, fd: number): string | undefined {
    const l = this.l;
    if (fd < 0 || task === 0n) return undefined;
    const files = this.ptr(task + BigInt(l.taskFiles));
    const fdt = files && this.ptr(files + BigInt(l.filesFdt));
    if (!fdt) return undefined;
    const max = this.u32(fdt + BigInt(l.fdtMaxFds));
    if (max === undefined || fd >= max) return undefined;
    const table = this.ptr(fdt + BigInt(l.fdtFd));
    const file = table && this.ptr(table + BigInt(8 * fd));
    if (!file) return undefined;
    const dentry = this.ptr(file + BigInt(l.fileDentry));
    const vfsmnt = this.ptr(file + BigInt(l.fileMnt));
    if (!dentry || !vfsmnt) return undefined;
    const sb = this.ptr(dentry + BigInt(l.dentrySb));
    const type = sb && this.ptr(sb + BigInt(l.sbType));
    const fsName = type && this.cstr(this.ptr(type + BigInt(l.fsTypeName)));
    const pseudo = fsName && PSEUDO[fsName];
    if (pseudo) {
      const inode = this.ptr(dentry + BigInt(l.dentryInode));
      const ino = inode && this.ptr(inode + BigInt(l.inodeIno));
      return `${pseudo}:[${ino ?? 0}]`;
    }
    return this.path(dentry, vfsmnt);
  }

  private cstr(addr: bigint | undefined): string | undefined {
    return addr === undefined ? undefined : this.guest.readCString(addr, 256);
  }

  /** d_path: names up the dentry chain, crossing from each mount's root to where it is mounted. */
  private path(dentry: bigint, vfsmnt: bigint): string | undefined {
    const l = this.l;
    const parts: string[] = [];
    let d = dentry;
    let mnt = vfsmnt - BigInt(l.mountMnt); // container_of(vfsmnt, struct mount, mnt)
    for (let i = 0; i < MAX_DEPTH; i++) {
      const root = this.ptr(mnt + BigInt(l.mountMnt + l.vfsmountRoot));
      if (root === undefined) return undefined;
      if (d === root) {
        const parent = this.ptr(mnt + BigInt(l.mountParent));
        if (parent === undefined || parent === mnt) break; // the root of everything
        const at = this.ptr(mnt + BigInt(l.mountMountpoint));
        if (at === undefined) return undefined;
        d = at;
        mnt = parent;
        continue;
      }
      const up = this.ptr(d + BigInt(l.dentryParent));
      if (up === undefined) return undefined;
      if (up === d) break;
      const name = this.cstr(this.ptr(d + BigInt(l.dentryName)));
      if (name === undefined) return undefined;
      parts.unshift(name);
      d = up;
    }
    return '/' + parts.join('/');
  }
}
