// Shared helpers for the TF.js reference scripts: .npy I/O, loading a TF.js
// graph model from disk, and setting up the wasm backend (single thread, SIMD).
//
// Only pure-JS / wasm packages are used (no @tensorflow/tfjs-node), so `npm ci`
// never downloads a native binary.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tfconv from '@tensorflow/tfjs-converter';

export { tf, tfconv };

const require = createRequire(import.meta.url);

// ---- wasm backend -----------------------------------------------------------

// Selects the wasm backend with one thread and SIMD. The .wasm binaries are read
// from the installed package with file paths (no network).
export async function initWasm({ threads = 1 } = {}) {
  const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
  setWasmPaths(distDir + path.sep);
  tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('could not initialise the TF.js wasm backend');
  await tf.ready();
  return {
    backend: tf.getBackend(),
    simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
    threads: threads > 1 ? threads : 1,
    tfjs: tf.version_core,
  };
}

// ---- model loading ----------------------------------------------------------

// An IOHandler that reads model.json and its weight shards with fs.
export function fileIOHandler(jsonPath) {
  return {
    async load() {
      const modelJSON = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      const dir = path.dirname(jsonPath);
      const specs = [];
      const buffers = [];
      for (const group of modelJSON.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const total = buffers.reduce((n, b) => n + b.length, 0);
      const weightData = new ArrayBuffer(total);
      const view = new Uint8Array(weightData);
      let off = 0;
      for (const b of buffers) {
        view.set(b, off);
        off += b.length;
      }
      return {
        modelTopology: modelJSON.modelTopology,
        format: modelJSON.format,
        generatedBy: modelJSON.generatedBy,
        convertedBy: modelJSON.convertedBy,
        signature: modelJSON.signature,
        userDefinedMetadata: modelJSON.userDefinedMetadata,
        modelInitializer: modelJSON.modelInitializer,
        weightSpecs: specs,
        weightData,
      };
    },
  };
}

export async function loadModel(jsonPath) {
  if (!fs.existsSync(jsonPath)) throw new Error(`model file not found: ${jsonPath}`);
  return tfconv.loadGraphModel(fileIOHandler(jsonPath));
}

// Output node names to fetch: the signature's outputs when the model has a
// signature, else the graph's sinks, plus `extra` (e.g. an embedding that is
// consumed inside the graph). Names are node names without ":0".
export function outputNames(model, extra = []) {
  const names = model.outputNodes.map((n) => n.replace(/:0$/, ''));
  for (const e of extra) if (!names.includes(e)) names.push(e);
  return names;
}

// Runs the model and returns a list of tensors in the order of `names`.
export function execute(model, input, names) {
  const res = model.execute(input, names);
  return Array.isArray(res) ? res : [res];
}

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

export function seedFromString(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
