// qr.js: the appointment link's QR code decodes, with an independent
// decoder (jsQR), to exactly the link, for every length up to version 10,
// both levels and every mask; its SVG is what gets drawn.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import jsQR from 'jsqr';
import { MAX_VERSION, QUIET_ZONE, qrEncode, qrSvg, reedSolomon, versionFor } from '../../../src/client/qr.js';

const SCALE = 4;

/** Rasterises the SVG's path (`M x y h w v1 h -w z` runs) into RGBA pixels as a browser would draw it. */
function rasterise(svg) {
  const n = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1]);
  assert.ok(n > 0, 'the SVG has a square viewBox');
  const d = /<path fill="#000" d="([^"]*)"/.exec(svg)?.[1] ?? '';
  const px = n * SCALE;
  const data = new Uint8ClampedArray(px * px * 4).fill(255);
  const runs = [...d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\3z/g)];
  assert.equal(runs.map((r) => r[0]).join(''), d, 'the path is made of runs only');
  for (const [, xs, ys, ws] of runs) {
    const [x0, y0, w] = [Number(xs), Number(ys), Number(ws)];
    for (let y = y0 * SCALE; y < (y0 + 1) * SCALE; y++) {
      for (let x = x0 * SCALE; x < (x0 + w) * SCALE; x++) {
        const i = (y * px + x) * 4;
        data[i] = data[i + 1] = data[i + 2] = 0;
      }
    }
  }
  return { data, width: px, height: px };
}

function decode(svg) {
  const { data, width, height } = rasterise(svg);
  const found = jsQR(data, width, height, { inversionAttempts: 'dontInvert' });
  return found ? { text: found.data, version: found.version } : null;
}

// A 22-character token and a 22-character key (16 bytes, base64url), as the server and e2ee.js make
// them, under a long host name.
const LINK = 'https://videosprechstunde.praxis-am-stadtpark.example.org/t/Q2hhbmdlIHRoaXMgdG9rZW' + '#k=' + 'A'.repeat(10) + '-_' + 'z'.repeat(10);

test('an appointment link with its key decodes to exactly the link', () => {
  assert.equal(LINK.length, 107);
  for (const level of ['M', 'Q']) {
    const got = decode(qrSvg(LINK, { level }));
    assert.equal(got?.text, LINK, `level ${level}`);
  }
  // 107 bytes need version 7 at M (106 is the most of version 6).
  assert.equal(qrEncode(LINK).version, 7);
});

test('every version of both levels decodes (the largest text of each)', () => {
  for (const level of ['M', 'Q']) {
    let last = 0;
    for (let len = 1; len < 260; len++) {
      const v = versionFor(len, level);
      if (v === 0) break;
      if (versionFor(len + 1, level) === v) continue;
      // `len` is the most bytes version v holds.
      const text = Array.from({ length: len }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789/#=-_'[(i * 7) % 41]).join('');
      const got = decode(qrSvg(text, { level }));
      assert.equal(got?.text, text, `level ${level}, version ${v}, ${len} bytes`);
      assert.equal(got?.version, v, `jsQR reads version ${v}`);
      last = v;
    }
    assert.equal(last, MAX_VERSION, `level ${level} reaches version ${MAX_VERSION}`);
  }
});

test('every mask decodes, and the chosen one is the lowest penalty', () => {
  for (let mask = 0; mask < 8; mask++) {
    const { modules } = qrEncode(LINK, { mask });
    const n = modules.length + 2 * QUIET_ZONE;
    const d = modules.flatMap((row, y) => row.flatMap((dark, x) => (dark ? [`M${x + QUIET_ZONE} ${y + QUIET_ZONE}h1v1h-1z`] : []))).join('');
    const svg = `<svg viewBox="0 0 ${n} ${n}"><path fill="#000" d="${d}"/></svg>`;
    assert.equal(decode(svg)?.text, LINK, `mask ${mask}`);
  }
});

test('text in UTF-8 (umlauts) and a too long text', () => {
  const text = 'https://praxis-müller.example/t/abc#k=äöü';
  assert.equal(decode(qrSvg(text))?.text, text);
  assert.throws(() => qrEncode('x'.repeat(214)), RangeError);
});

test('Reed–Solomon codewords of the standard’s example (version 1-M, "01234567")', () => {
  // ISO/IEC 18004 Annex I: data codewords and the 10 EC codewords.
  const data = [0x10, 0x20, 0x0c, 0x56, 0x61, 0x80, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11];
  assert.deepEqual(reedSolomon(data, 10), [0xa5, 0x24, 0xd4, 0xc1, 0xed, 0x36, 0xc7, 0x87, 0x2c, 0x55]);
});

test('the SVG loads nothing and escapes its title', () => {
  const svg = qrSvg(LINK, { title: 'Link <Patient 1> & "x"' });
  assert.ok(!/href|url\(|<script|<image/i.test(svg), svg.slice(0, 200));
  assert.ok(svg.includes('<title>Link &#60;Patient 1&#62; &#38; &#34;x&#34;</title>'));
});
