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

// .npy I/O and the seeded PRNG: ../npy.mjs (shared by the reference packages).
export { writeNpy, readNpy, rng } from '../npy.mjs';
import { rng } from '../npy.mjs';

export function randomTensor(shape, lo, hi, seed) {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = lo + (hi - lo) * r();
  return { shape, data };
}
