/**
 * Free space on the disk that holds a SQLite database, so that `roster serve` warns before it
 * fills: once it is full every write is refused (503) until space is freed, and even
 * `roster audit purge` cannot free room (docs/operations.md).
 */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Below this much free space, `roster serve` warns: a few large transactions' write-ahead log. */
export const LOW_DISK_BYTES = 128 * 1024 * 1024;

/** A warning when the disk of `databasePath` has less than `threshold` bytes free for Roster's user; undefined otherwise or when unknown. */
export function lowDiskWarning(databasePath: string, threshold = LOW_DISK_BYTES): { readonly freeBytes: number; readonly message: string } | undefined {
  let freeBytes: number;
  try {
    const disk = statfsSync(dirname(databasePath));
    freeBytes = disk.bavail * disk.bsize;
  } catch {
    return undefined;
  }
  if (freeBytes >= threshold) return undefined;
  const mib = (freeBytes / (1024 * 1024)).toFixed(1);
  return {
    freeBytes,
    message: `the disk that holds the SQLite database ${databasePath} has ${mib} MiB free: once it is full, every write is refused (503) until space is freed. Free some space, or move the database to a larger disk.`,
  };
}
