// @ts-check
// A QR code encoder (ISO/IEC 18004) for appointment links, drawn as SVG:
// byte mode, error correction level M (default) or Q, versions 1–10 (up to
// 213 bytes at M, 151 at Q: an appointment link with its key is about 100).
// No DOM, nothing from another origin; tests/browser/unit/qr.test.mjs
// decodes the output with an independent decoder (jsQR).

/**
 * Per version 1–10 and level: [EC codewords per block, blocks of group 1,
 * data codewords per block of group 1, blocks of group 2 (one data codeword more)].
 * @type {Record<'M' | 'Q', [number, number, number, number][]>}
 */
const BLOCKS = {
  M: [[10, 1, 16, 0], [16, 1, 28, 0], [26, 1, 44, 0], [18, 2, 32, 0], [24, 2, 43, 0],
    [16, 4, 27, 0], [18, 4, 31, 0], [22, 2, 38, 2], [22, 3, 36, 2], [26, 4, 43, 1]],
  Q: [[13, 1, 13, 0], [22, 1, 22, 0], [18, 2, 17, 0], [26, 2, 24, 0], [18, 2, 15, 2],
    [24, 4, 19, 0], [18, 2, 14, 4], [22, 4, 18, 2], [20, 4, 16, 4], [24, 6, 19, 2]],
};

/** Centres of the alignment patterns per version (both axes). */
const ALIGN = [[], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]];

/** The two format bits of each level (M = 00, Q = 11). */
const LEVEL_BITS = { M: 0, Q: 3 };

export const MAX_VERSION = 10;

// ---- GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1 --------------

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
}

/** @param {number} a @param {number} b */
const mul = (a, b) => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);

/** The generator polynomial of degree n (highest coefficient first, leading 1 left out). @param {number} n */
function generator(n) {
  let poly = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= mul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return poly.slice(1);
}

/** The n error correction codewords of `data`. @param {number[]} data @param {number} n */
export function reedSolomon(data, n) {
  const gen = generator(n);
  const rem = new Array(n).fill(0);
  for (const byte of data) {
    const factor = byte ^ /** @type {number} */ (rem.shift());
    rem.push(0);
    for (let i = 0; i < n; i++) rem[i] ^= mul(gen[i], factor);
  }
  return rem;
}

// ---- the bit stream --------------------------------------------------------

/** @param {number} version @param {'M' | 'Q'} level */
function capacity(version, level) {
  const [, g1, d1, g2] = BLOCKS[level][version - 1];
  return g1 * d1 + g2 * (d1 + 1);
}

/** @param {number} version */
const countBits = (version) => (version <= 9 ? 8 : 16);

/**
 * The smallest version that holds `length` bytes, or 0 when none does.
 * @param {number} length @param {'M' | 'Q'} level
 */
export function versionFor(length, level) {
  for (let v = 1; v <= MAX_VERSION; v++) {
    if (4 + countBits(v) + 8 * length <= capacity(v, level) * 8) return v;
  }
  return 0;
}

/**
 * Data codewords: byte mode, the count, the bytes, terminator and padding.
 * @param {Uint8Array} bytes @param {number} version @param {'M' | 'Q'} level
 */
function dataCodewords(bytes, version, level) {
  /** @type {number[]} */ const bits = [];
  const put = (/** @type {number} */ value, /** @type {number} */ n) => {
    for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, countBits(version));
  for (const b of bytes) put(b, 8);
  const total = capacity(version, level) * 8;
  put(0, Math.min(4, total - bits.length));
  while (bits.length % 8) bits.push(0);
  /** @type {number[]} */ const out = [];
  for (let i = 0; i < bits.length; i += 8) out.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
  for (let pad = 0; out.length < total / 8; pad ^= 1) out.push(pad ? 0x11 : 0xec);
  return out;
}

/** Splits into blocks, adds error correction, interleaves. @param {number[]} data @param {number} version @param {'M' | 'Q'} level */
function interleave(data, version, level) {
  const [ec, g1, d1, g2] = BLOCKS[level][version - 1];
  /** @type {number[][]} */ const blocks = [];
  let at = 0;
  for (let i = 0; i < g1 + g2; i++) {
    const len = i < g1 ? d1 : d1 + 1;
    blocks.push(data.slice(at, at + len));
    at += len;
  }
  const ecBlocks = blocks.map((b) => reedSolomon(b, ec));
  /** @type {number[]} */ const out = [];
  for (let i = 0; i <= d1; i++) for (const b of blocks) if (i < b.length) out.push(b[i]);
  for (let i = 0; i < ec; i++) for (const b of ecBlocks) out.push(b[i]);
  return out;
}

// ---- the matrix ------------------------------------------------------------

/** @typedef {{size: number, dark: Uint8Array, fixed: Uint8Array}} Grid */

/** @param {Grid} g @param {number} x @param {number} y @param {boolean} dark */
function fix(g, x, y, dark) {
  g.dark[y * g.size + x] = dark ? 1 : 0;
  g.fixed[y * g.size + x] = 1;
}

/** BCH remainder of `value` (shifted by the generator's degree). @param {number} value @param {number} poly @param {number} degree */
function bch(value, poly, degree) {
  let rem = value << degree;
  for (let i = 31 - Math.clz32(rem); i >= degree; i--) if ((rem >>> i) & 1) rem ^= poly << (i - degree);
  return (value << degree) | rem;
}

/** Finder, separator, timing and alignment patterns, the dark module, reserved format areas. @param {number} version */
function functionPatterns(version) {
  const size = 17 + 4 * version;
  /** @type {Grid} */ const g = { size, dark: new Uint8Array(size * size), fixed: new Uint8Array(size * size) };
  for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx;
        const y = cy + dy;
        if (x < 0 || y < 0 || x >= size || y >= size) continue;
        const ring = Math.max(Math.abs(dx), Math.abs(dy));
        fix(g, x, y, ring !== 2 && ring !== 4);
      }
    }
  }
  for (let i = 8; i < size - 8; i++) {
    fix(g, 6, i, i % 2 === 0);
    fix(g, i, 6, i % 2 === 0);
  }
  const centres = ALIGN[version - 1];
  const last = centres.length - 1;
  centres.forEach((cy, i) => centres.forEach((cx, j) => {
    if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) fix(g, cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
    }
  }));
  formatBits(g, 'M', 0); // reserves the areas; drawn again with the chosen mask
  if (version >= 7) {
    const bits = bch(version, 0x1f25, 12);
    for (let i = 0; i < 18; i++) {
      const dark = ((bits >>> i) & 1) === 1;
      const a = size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      fix(g, a, b, dark);
      fix(g, b, a, dark);
    }
  }
  return g;
}

/** Draws both copies of the format information. @param {Grid} g @param {'M' | 'Q'} level @param {number} mask */
function formatBits(g, level, mask) {
  const bits = bch((LEVEL_BITS[level] << 3) | mask, 0x537, 10) ^ 0x5412;
  const bit = (/** @type {number} */ i) => ((bits >>> i) & 1) === 1;
  const s = g.size;
  for (let i = 0; i <= 5; i++) fix(g, 8, i, bit(i));
  fix(g, 8, 7, bit(6));
  fix(g, 8, 8, bit(7));
  fix(g, 7, 8, bit(8));
  for (let i = 9; i < 15; i++) fix(g, 14 - i, 8, bit(i));
  for (let i = 0; i < 8; i++) fix(g, s - 1 - i, 8, bit(i));
  for (let i = 8; i < 15; i++) fix(g, 8, s - 15 + i, bit(i));
  fix(g, 8, s - 8, true);
}

/** @type {((x: number, y: number) => boolean)[]} */
const MASKS = [
  (x, y) => (x + y) % 2 === 0,
  (x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

/** Places the codewords in the zigzag order. @param {Grid} g @param {number[]} codewords */
function place(g, codewords) {
  const s = g.size;
  let i = 0;
  for (let right = s - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    const upward = ((right + 1) & 2) === 0;
    for (let v = 0; v < s; v++) {
      const y = upward ? s - 1 - v : v;
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        if (g.fixed[y * s + x]) continue;
        // Remainder bits (past the last codeword) stay light.
        const on = i < codewords.length * 8 && ((codewords[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
        g.dark[y * s + x] = on ? 1 : 0;
        i++;
      }
    }
  }
}

/** A copy of `g` with mask `m` applied to the data modules. @param {Grid} g @param {number} m */
function masked(g, m) {
  const out = { size: g.size, dark: g.dark.slice(), fixed: g.fixed };
  for (let y = 0; y < g.size; y++) {
    for (let x = 0; x < g.size; x++) {
      if (!g.fixed[y * g.size + x] && MASKS[m](x, y)) out.dark[y * g.size + x] ^= 1;
    }
  }
  return out;
}

/** The standard's penalty score of a finished symbol (lower is better). @param {Grid} g */
export function penalty(g) {
  const s = g.size;
  const at = (/** @type {number} */ x, /** @type {number} */ y) => g.dark[y * s + x];
  let score = 0;
  const finder = [1, 0, 1, 1, 1, 0, 1];
  for (const horizontal of [true, false]) {
    for (let a = 0; a < s; a++) {
      /** @type {number[]} */ const line = [];
      for (let b = 0; b < s; b++) line.push(horizontal ? at(b, a) : at(a, b));
      let run = 1;
      for (let b = 1; b <= s; b++) {
        if (b < s && line[b] === line[b - 1]) run++;
        else {
          if (run >= 5) score += run - 2;
          run = 1;
        }
      }
      for (let b = 0; b + 7 <= s; b++) {
        if (!finder.every((v, k) => line[b + k] === v)) continue;
        const lightBefore = [1, 2, 3, 4].every((k) => b - k < 0 || line[b - k] === 0);
        const lightAfter = [0, 1, 2, 3].every((k) => b + 7 + k >= s || line[b + 7 + k] === 0);
        if (lightBefore) score += 40;
        if (lightAfter) score += 40;
      }
    }
  }
  for (let y = 0; y + 1 < s; y++) {
    for (let x = 0; x + 1 < s; x++) {
      const c = at(x, y);
      if (c === at(x + 1, y) && c === at(x, y + 1) && c === at(x + 1, y + 1)) score += 3;
    }
  }
  const darkCount = g.dark.reduce((a, b) => a + b, 0);
  score += 10 * Math.floor(Math.abs((darkCount * 100) / (s * s) - 50) / 5);
  return score;
}

/**
 * The QR code of `text` (UTF-8, byte mode) as rows of booleans (true = dark),
 * without the quiet zone. Throws when the text does not fit version 10.
 * @param {string} text
 * @param {{level?: 'M' | 'Q', mask?: number}} [opts] `mask`: force one (0–7), for tests
 * @returns {{version: number, level: 'M' | 'Q', mask: number, modules: boolean[][]}}
 */
export function qrEncode(text, opts = {}) {
  const level = opts.level ?? 'M';
  const bytes = new TextEncoder().encode(text);
  const version = versionFor(bytes.length, level);
  if (!version) throw new RangeError(`too long for a QR code of version ${MAX_VERSION}: ${bytes.length} bytes`);
  const base = functionPatterns(version);
  place(base, interleave(dataCodewords(bytes, version, level), version, level));
  let best = null;
  let bestMask = 0;
  let bestScore = Infinity;
  for (let m = 0; m < 8; m++) {
    if (opts.mask !== undefined && opts.mask !== m) continue;
    const g = masked(base, m);
    formatBits(g, level, m);
    const score = penalty(g);
    if (score < bestScore) {
      best = g;
      bestMask = m;
      bestScore = score;
    }
  }
  const g = /** @type {Grid} */ (best);
  const modules = [];
  for (let y = 0; y < g.size; y++) {
    const row = [];
    for (let x = 0; x < g.size; x++) row.push(g.dark[y * g.size + x] === 1);
    modules.push(row);
  }
  return { version, level, mask: bestMask, modules };
}

/** Light modules around the symbol, as the standard asks. */
export const QUIET_ZONE = 4;

/**
 * The SVG path of the dark modules (one `M x y h w v1 h -w z` per run of a
 * row), in module units, offset by the quiet zone.
 * @param {boolean[][]} modules
 */
export function qrPath(modules) {
  /** @type {string[]} */ const parts = [];
  modules.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      let w = 1;
      while (x + w < row.length && row[x + w]) w++;
      parts.push(`M${x + QUIET_ZONE} ${y + QUIET_ZONE}h${w}v1h-${w}z`);
      x += w - 1;
    }
  });
  return parts.join('');
}

/**
 * A complete SVG document of the QR code of `text` (black on white, with
 * the quiet zone), `size` CSS pixels wide.
 * @param {string} text
 * @param {{level?: 'M' | 'Q', size?: number, title?: string}} [opts]
 */
export function qrSvg(text, opts = {}) {
  const { modules } = qrEncode(text, { level: opts.level });
  const n = modules.length + 2 * QUIET_ZONE;
  const size = opts.size ?? 256;
  const esc = (/** @type {string} */ s) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const title = opts.title ? `<title>${esc(opts.title)}</title>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${n} ${n}" width="${size}" height="${size}" ` +
    `shape-rendering="crispEdges" role="img">${title}<rect width="${n}" height="${n}" fill="#fff"/>` +
    `<path fill="#000" d="${qrPath(modules)}"/></svg>`;
}
