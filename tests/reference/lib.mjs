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

// .npy I/O and the seeded PRNG live in npy.mjs (shared with onnx/ and faceapi/).
export { writeNpy, readNpy, rng } from './npy.mjs';

export function seedFromString(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
