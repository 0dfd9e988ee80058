// TF.js wasm peer benchmark for `facekit bench engine`.
//
//   node tests/reference/bench_tfjs.mjs [--models-dir DIR] [--models a,b] [--batches 1,8]
//        [--time S] [--threads 1]
//
// Prints one JSON object on stdout:
//   {"tfjs": "4.22.0", "backend": "wasm", "simd": true, "threads": 1,
//    "results": [{"model", "batch", "ms_per_input", "runs", "stacked"}...]}
// Each cell: one warm-up run, then repeated runs until --time seconds have passed
// (at least 3 runs, at most 200); ms_per_input is the median run time / batch.
// Models whose TF.js graph is fixed to batch 1 run `batch` sequential batch-1
// executions per run ("stacked": true).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { execute, initWasm, loadModel, rng, tf } from './lib.mjs';
import { kModels, modelSpec } from './models.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const modelsDir = arg('--models-dir', process.env.FK_MODELS_DIR ? path.join(process.env.FK_MODELS_DIR, 'human') : path.join(root, 'models', 'human'));
const models = arg('--models', '') ? arg('--models', '').split(',').map((s) => modelSpec(s.trim())) : kModels;
const batches = arg('--batches', '1,8').split(',').map(Number);
const timeS = Number(arg('--time', '1.5'));
const threads = Number(arg('--threads', '1'));

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function runOnce(model, x, names, stacked) {
  if (!stacked) {
    const outs = execute(model, x, names);
    await Promise.all(outs.map((t) => t.data()));
    tf.dispose(outs);
    return;
  }
  for (let i = 0; i < x.shape[0]; i++) {
    const xi = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
    const outs = execute(model, xi, names);
    await Promise.all(outs.map((t) => t.data()));
    tf.dispose([xi, ...outs]);
  }
}

async function main() {
  const info = await initWasm({ threads });
  const results = [];
  for (const spec of models) {
    const jsonPath = path.join(modelsDir, `${spec.name}.json`);
    if (!fs.existsSync(jsonPath)) {
      results.push({ model: spec.name, error: `model not found: ${jsonPath}` });
      continue;
    }
    const model = await loadModel(jsonPath);
    const shape = model.inputs[0].shape;
    const stacked = shape[0] === 1;
    const names = model.outputNodes;
    for (const b of batches) {
      const [, h, w, c] = shape;
      const n = b * h * w * c;
      const r = rng(1234 + b);
      const data = new Float32Array(n);
      const [lo, hi] = spec.range;
      for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * r();
      const x = tf.tensor(data, [b, h, w, c]);
      await runOnce(model, x, names, stacked);  // warm-up
      const times = [];
      const start = performance.now();
      while (times.length < 200 && (times.length < 3 || performance.now() - start < timeS * 1000)) {
        const t0 = performance.now();
        await runOnce(model, x, names, stacked);
        times.push(performance.now() - t0);
      }
      results.push({ model: spec.name, batch: b, ms_per_input: median(times) / b, runs: times.length, stacked: stacked && b > 1 });
      tf.dispose(x);
    }
    model.dispose();
  }
  process.stdout.write(JSON.stringify({ tfjs: info.tfjs, backend: info.backend, simd: info.simd, threads: info.threads, results }) + '\n');
}

main().catch((e) => {
  console.error(`bench_tfjs: ${e.message}`);
  process.exit(1);
});
