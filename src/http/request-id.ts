/**
 * The request ids the gateway makes: UUID version 7 (RFC 9562, section 5.7), a 48-bit Unix time
 * in milliseconds followed by 74 random bits. Ordered by time, they land at the end of the usage
 * table's `request_id` index instead of at a random page of it: with three million rows in the
 * index (220 MB, beyond PostgreSQL's 128 MB of shared buffers) a random UUID cost about 10 µs
 * of the server's time per row inserted and a time-ordered one about 3.7
 * (docs/performance-history.md, "What changed"). The random bits come from a pool refilled by the
 * operating system's generator, as Node's own `randomUUID` does.
 */
import { randomFillSync } from 'node:crypto';

const idsPerPool = 256;
const randomBytesPerId = 10;
const pool = Buffer.allocUnsafe(idsPerPool * randomBytesPerId);
let offset = pool.length;

/** Each byte's two hex digits as character codes: byte b at 2b and 2b + 1. */
const hexDigits = new Uint8Array(512);
for (let byte = 0; byte < 256; byte += 1) {
  const digits = byte.toString(16).padStart(2, '0');
  hexDigits[2 * byte] = digits.charCodeAt(0);
  hexDigits[2 * byte + 1] = digits.charCodeAt(1);
}

/**
 * The id is written here as text and read out as one flat string. Built with `+` from 20
 * pieces it was a rope of 20 objects (about 600 bytes) that every use (the response header,
 * the log line, the usage row, a Map key) had to flatten first; the same holds for Node's
 * `randomUUID`.
 */
const text = Buffer.alloc(36, '-');

function put(at: number, byte: number): void {
  text[at] = hexDigits[2 * byte]!;
  text[at + 1] = hexDigits[2 * byte + 1]!;
}

/** A UUIDv7 for the instant `now` (milliseconds since the epoch; default: the clock). */
export function uuidV7(now: number = Date.now()): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += randomBytesPerId;
  // The time's six bytes, big-endian: the upper two by division (past 32 bits), the rest by
  // the 32-bit operators, which take the time modulo 2^32.
  const high = Math.floor(now / 0x1_0000_0000);
  put(0, (high >>> 8) & 0xff);
  put(2, high & 0xff);
  put(4, (now >>> 24) & 0xff);
  put(6, (now >>> 16) & 0xff);
  put(9, (now >>> 8) & 0xff);
  put(11, now & 0xff);
  // Version 7 in the high four bits, then twelve random bits.
  put(14, 0x70 | (pool[at]! & 0x0f));
  put(16, pool[at + 1]!);
  // The variant (binary 10) in the high two bits, then random bits.
  put(19, 0x80 | (pool[at + 2]! & 0x3f));
  put(21, pool[at + 3]!);
  for (let index = 0; index < 6; index += 1) put(24 + 2 * index, pool[at + 4 + index]!);
  return text.toString('latin1', 0, 36);
}

/** The millisecond time a UUIDv7 carries. */
export function uuidV7Time(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
