// .npy I/O and the seeded PRNG shared by every Node reference package here (tfjs, onnx/,
// faceapi/): no package imports, so each package can import it by relative path.
import fs from 'node:fs';

// ---- .npy -------------------------------------------------------------------

const kDescr = { float32: '<f4', int32: '<i4', uint8: '|u1' };

export function writeNpy(file, shape, data) {
  let dtype;
  if (data instanceof Float32Array) dtype = 'float32';
  else if (data instanceof Int32Array) dtype = 'int32';
  else if (data instanceof Uint8Array) dtype = 'uint8';
  else throw new Error(`writeNpy: unsupported array type ${data?.constructor?.name}`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${kDescr[dtype]}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const pre = 10;
  const pad = 64 - ((pre + header.length + 1) % 64);
  header = header + ' '.repeat(pad % 64) + '\n';
  const h = Buffer.alloc(pre + header.length);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1;
  h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  h.write(header, pre, 'latin1');
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([h, body]));
}

export function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hoff = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hoff, hoff + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeTxt = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeTxt === undefined) throw new Error(`${file}: malformed .npy header`);
  if (fortran === 'True') throw new Error(`${file}: fortran order is not supported`);
  const shape = shapeTxt.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const off = hoff + hlen;
  const bytes = buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length);
  let data;
  if (descr === '<f4') data = new Float32Array(bytes);
  else if (descr === '<i4') data = new Int32Array(bytes);
  else if (descr === '|u1') data = new Uint8Array(bytes);
  else throw new Error(`${file}: unsupported dtype ${descr}`);
  return { shape, data };
}

// ---- deterministic random numbers -------------------------------------------

// mulberry32: small seeded PRNG (reproducible across runs and machines).
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
