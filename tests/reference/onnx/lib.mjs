// Shared helpers for the ONNX Runtime reference scripts: .npy I/O, seeded random
// inputs, and ONNX Runtime sessions (onnxruntime-web's bundled wasm, one thread, or
// onnxruntime-node when installed). Runs offline: nothing is fetched.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const HERE = path.dirname(new URL(import.meta.url).pathname);
// package.json files read directly (the packages' "exports" hide them from require).
const pkgVersion = (name) => JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version;

// ---- ONNX Runtime -----------------------------------------------------------

// kind: 'web' (onnxruntime-web, wasm, SIMD, numThreads = threads) or 'node'
// (onnxruntime-node, CPU execution provider, intraOpNumThreads = threads).
export async function loadOrt(kind = 'web', threads = 1) {
  if (kind === 'node') {
    const ort = require('onnxruntime-node');
    return { ort, kind, version: pkgVersion('onnxruntime-node'), threads,
             options: { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
                        graphOptimizationLevel: 'all', logSeverityLevel: 3 } };
  }
  const ort = require('onnxruntime-web');
  const dist = path.join(HERE, 'node_modules', 'onnxruntime-web', 'dist') + path.sep;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = dist;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return { ort, kind, version: pkgVersion('onnxruntime-web'), threads,
           options: { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 } };
}

export async function createSession(rt, modelPath) {
  const bytes = fs.readFileSync(modelPath);
  return rt.ort.InferenceSession.create(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), rt.options);
}

// Runs the session on {name: {shape, data: Float32Array}}; returns {name: {shape, data}}.
export async function runSession(rt, session, inputs) {
  const feeds = {};
  for (const [name, v] of Object.entries(inputs)) feeds[name] = new rt.ort.Tensor('float32', v.data, v.shape);
  const res = await session.run(feeds);
  const out = {};
  for (const name of session.outputNames) {
    const t = res[name];
    out[name] = { shape: t.dims.map(Number), data: Float32Array.from(t.data) };
  }
  return out;
}

// ---- .npy (float32, C order) --------------------------------------------------

export function writeNpy(file, shape, data) {
  if (!(data instanceof Float32Array)) throw new Error(`writeNpy: expects Float32Array`);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1; h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([h, Buffer.from(header, 'latin1'),
                                        Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

export function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${file}: only float32 .npy files are supported`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order is not supported`);
  const shapeTxt = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeTxt.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const off = hstart + hlen;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  Buffer.from(buf.buffer, buf.byteOffset + off, n * 4).copy(Buffer.from(data.buffer));
  return { shape, data };
}

// ---- seeded inputs -------------------------------------------------------------

// mulberry32: small deterministic PRNG (same inputs on every machine).
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

export function randomTensor(shape, lo, hi, seed) {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = lo + (hi - lo) * r();
  return { shape, data };
}
