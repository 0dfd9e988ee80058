// face-api peer benchmark for `facekit bench engine`: @vladmandic/face-api 1.7.15 on
// @tensorflow/tfjs-backend-wasm 4.22.0 (1 thread, SIMD), in Node, offline.
//
//   node bench_faceapi.mjs --models-dir DIR [--models faceapi-resnet,faceapi-landmark68]
//        [--batches 1,8,16,32] [--time S] [--max-runs N]
//
// DIR holds face_recognition_model-weights_manifest.json / face_landmark_68_model-... (+ .bin).
// Per net x batch: one warm-up run, then repeated runs until --time seconds have passed (at
// least 3 runs, at most --max-runs, default 200); ms_per_input = median run time / batch.
// One run = `net.forward(x)` on B float32 [S, S, 3] tensors of RGB 0..255 noise (S = 150 for
// the recognition ResNet, 112 for the 68-point landmarks; face-api stacks them into one
// [B, S, S, 3] batch itself: NetInput, normalisation, the net on the whole batch) plus reading the [B, 128] / [B, 136] output back to JS —
// the same work as facekit's Model::Run on that net (normalisation is inside its graph).
// Prints one JSON object on stdout:
//   {"faceapi": "1.7.15", "tfjs": "4.22.0", "backend": "wasm", "simd": true, "threads": 1,
//    "results": [{"model", "batch", "ms_per_input", "min_ms_per_input", "runs"}...]}
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { rng } from '../npy.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 && i + 1 < args.length ? args[i + 1] : d; };
const modelsDir = opt('--models-dir');
if (!modelsDir) {
  console.error('usage: node bench_faceapi.mjs --models-dir DIR [--models faceapi-resnet,faceapi-landmark68] ' +
                '[--batches 1,8,16,32] [--time S] [--max-runs N]');
  process.exit(2);
}
const NETS = {
  'faceapi-resnet': { manifest: 'face_recognition_model', size: 150, net: (fa) => fa.nets.faceRecognitionNet },
  'faceapi-landmark68': { manifest: 'face_landmark_68_model', size: 112, net: (fa) => fa.nets.faceLandmark68Net },
};
const names = opt('--models', Object.keys(NETS).join(',')).split(',').filter((s) => s.length);
for (const n of names)
  if (!NETS[n]) { console.error(`bench_faceapi: unknown net '${n}' (${Object.keys(NETS).join(', ')})`); process.exit(2); }
const batches = opt('--batches', '1,8').split(',').map(Number);
const timeS = Number(opt('--time', '1'));
const maxRuns = Number(opt('--max-runs', '200'));

let tf, faceapi, wasm;
try {
  tf = require('@tensorflow/tfjs');
  wasm = require('@tensorflow/tfjs-backend-wasm');
  faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
} catch (e) {
  console.error(`bench_faceapi: face-api / tfjs not installed (${e.message.split('\n')[0]}): run npm ci in ${path.dirname(new URL(import.meta.url).pathname)}`);
  process.exit(77);
}
const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
wasm.setWasmPaths(distDir + path.sep);
tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
if (!(await tf.setBackend('wasm'))) { console.error('bench_faceapi: could not initialise the TF.js wasm backend'); process.exit(1); }
await tf.ready();

const median = (v) => { const s = [...v].sort((a, b) => a - b); const k = s.length >> 1; return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2; };

const results = [];
for (const name of names) {
  const spec = NETS[name];
  const file = path.join(modelsDir, `${spec.manifest}-weights_manifest.json`);
  if (!fs.existsSync(file)) { results.push({ model: name, error: `model not found: ${file}` }); continue; }
  const net = spec.net(faceapi);
  await net.loadFromDisk(modelsDir);
  for (const b of batches) {
    const r = rng(1234 + b);
    const data = new Float32Array(b * spec.size * spec.size * 3);
    for (let i = 0; i < data.length; ++i) data[i] = Math.floor(256 * r());
    // face-api takes a batch as an array of [S, S, 3] tensors (a Tensor4D must have batch 1).
    const x = tf.tensor4d(data, [b, spec.size, spec.size, 3]);
    const input = b === 1 ? x : tf.unstack(x);
    const once = async () => {
      const y = await net.forward(input);
      await y.data();
      y.dispose();
    };
    await once();  // warm-up
    const times = [];
    const start = performance.now();
    while (times.length < maxRuns && (times.length < 3 || performance.now() - start < timeS * 1000)) {
      const t0 = performance.now();
      await once();
      times.push(performance.now() - t0);
    }
    results.push({ model: name, batch: b, ms_per_input: +(median(times) / b).toFixed(4),
                   min_ms_per_input: +(Math.min(...times) / b).toFixed(4), runs: times.length });
    tf.dispose([x, input]);
  }
  net.dispose();
}
process.stdout.write(JSON.stringify({ faceapi: faceapi.version, tfjs: tf.version.tfjs, backend: tf.getBackend(),
                                      simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'), threads: 1, results }) + '\n');
