/**
 * How much of a SQLite WAL file is in use, read from the file itself (SQLite's
 * WAL format: https://www.sqlite.org/fileformat.html#the_write_ahead_log).
 *
 * Why not `PRAGMA wal_checkpoint`'s row, which says the same: reading a row made
 * the driver create a native handle per call that Deno never frees (issue #20).
 * Why not the WAL index (-shm): opening and closing it would drop this process's
 * POSIX locks on it. SQLite takes no lock on the WAL file, so reading it is safe.
 *
 * A frame is in use when it carries the salts of the file's header: a writer
 * that starts the log over (after a RESTART checkpoint) writes a header with new
 * salts and then frames from the start of the file, so the frames in use are
 * the file's first ones and every later frame still carries older salts.
 */

const HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
/** Where the salts are: bytes 16-23 of the file's header, 8-15 of a frame's. */
const HEADER_SALT_AT = 16;
const FRAME_SALT_AT = 8;
const SALT_BYTES = 8;

export interface WalFrames {
  /** Frames the file has room for (its size). */
  inFile: number;
  /** Frames of the current log, written since it last started over. */
  inUse: number;
}

/** The frames of the WAL file at `path`, whose pages are `pageSize` bytes; none without a file. */
export function walFrames(path: string, pageSize: number): WalFrames {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return { inFile: 0, inUse: 0 }; // no WAL file (yet)
  }
  try {
    const frameBytes = FRAME_HEADER_BYTES + pageSize;
    const size = file.statSync().size;
    const inFile = size < HEADER_BYTES ? 0 : Math.floor((size - HEADER_BYTES) / frameBytes);
    const salt = read(file, HEADER_SALT_AT, SALT_BYTES);
    if (inFile === 0 || !salt) return { inFile, inUse: 0 };
    const inUse = (frame: number) =>
      sameBytes(read(file, HEADER_BYTES + frame * frameBytes + FRAME_SALT_AT, SALT_BYTES), salt);
    // the largest n whose frame n-1 is in use (frames in use are the first ones)
    let low = 0, high = inFile;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (inUse(mid - 1)) low = mid;
      else high = mid - 1;
    }
    return { inFile, inUse: low };
  } finally {
    file.close();
  }
}

function read(file: Deno.FsFile, at: number, length: number): Uint8Array | null {
  const bytes = new Uint8Array(length);
  file.seekSync(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = file.readSync(bytes.subarray(got));
    if (n === null || n === 0) return null;
    got += n;
  }
  return bytes;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}
