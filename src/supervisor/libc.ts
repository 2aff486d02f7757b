/**
 * The three Linux system calls the supervisor needs and Bun does not expose, through `bun:ffi`
 * on libc: become a child subreaper, hold an exclusive `flock`, and reap a reparented orphan.
 * `loadLibc()` answers null anywhere else (or if libc cannot be opened); callers then fall back
 * to what works without it (the control socket check, process-group and marker tracking).
 */
export interface Libc {
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of our descendants become our children. */
  becomeSubreaper(): boolean;
  /**
   * Open (creating 0600, close-on-exec so services never inherit it) and `flock(LOCK_EX|LOCK_NB)`
   * a file. Returns the fd, or null when another process holds the lock; throws on other errors.
   * The kernel drops the lock when this process dies, even by SIGKILL.
   */
  lockFile(path: string): number | null;
  /** waitpid(pid, NULL, WNOHANG) for one pid that is known not to be Bun's own child. */
  reap(pid: number): boolean;
}

const PR_SET_CHILD_SUBREAPER = 36;
const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_CLOEXEC = 0o2000000;
const LOCK_EX = 2;
const LOCK_NB = 4;
const WNOHANG = 1;
const EWOULDBLOCK = 11;

let cached: Libc | null | undefined;

/** glibc, then musl (Alpine) on x64 and arm64. */
const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

export async function loadLibc(): Promise<Libc | null> {
  if (cached !== undefined) return cached;
  cached = null;
  // The O_* and errno values above are Linux's (x64 and arm64 share them).
  if (process.platform !== "linux") return cached;
  try {
    const { dlopen, FFIType, ptr, read } = await import("bun:ffi");
    const defs = {
      prctl: {
        args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64],
        returns: FFIType.i32,
      },
      open: { args: [FFIType.ptr, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
      waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
      __errno_location: { args: [], returns: FFIType.ptr },
    } as const;
    let lib: ReturnType<typeof dlopen<typeof defs>> | null = null;
    for (const name of LIBC_NAMES) {
      try {
        lib = dlopen(name, defs);
        break;
      } catch {
        // Try the next name.
      }
    }
    if (!lib) return cached;
    const s = lib.symbols;
    const errno = (): number => {
      const p = s.__errno_location();
      return p ? read.i32(p, 0) : 0;
    };
    cached = {
      becomeSubreaper: () => s.prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n) === 0,
      lockFile(path) {
        const cpath = Buffer.from(`${path}\0`);
        const fd = s.open(ptr(cpath), O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
        if (fd < 0) throw new Error(`cannot open ${path} (errno ${errno()})`);
        if (s.flock(fd, LOCK_EX | LOCK_NB) === 0) return fd;
        const e = errno();
        s.close(fd);
        if (e === EWOULDBLOCK) return null;
        throw new Error(`cannot lock ${path} (errno ${e})`);
      },
      reap: (pid) => s.waitpid(pid, null, WNOHANG) === pid,
    };
  } catch {
    cached = null;
  }
  return cached;
}
