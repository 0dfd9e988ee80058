// Peer benchmark: ONNX Runtime ms/face on an .onnx model (random input, batch 1 unless
// --batch; models with a fixed batch of 1 run --batch times per "batch").
//   node bench_onnx.mjs MODEL.onnx [--runtime web|node] [--threads N] [--iters N] [--batch N] [--json]
// onnxruntime-node is not in package.json (its install script downloads CUDA files);
// install it for benchmarks with: npm install --no-save --ignore-scripts onnxruntime-node@1.30.0
import { loadOrt, createSession, runSession, randomTensor } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const model = args[0];
if (!model || model.startsWith('--')) {
  console.error('usage: node bench_onnx.mjs MODEL.onnx [--runtime web|node] [--threads N] [--iters N] [--batch N] [--json]');
  process.exit(2);
}
const runtime = opt('--runtime', 'web');
const threads = Number(opt('--threads', '1'));
const iters = Number(opt('--iters', '50'));
const batch = Number(opt('--batch', '1'));
const shape = (opt('--shape', '1,3,112,112')).split(',').map(Number);
let rt;
try {
  rt = await loadOrt(runtime, threads);
} catch (e) {
  console.error(`onnxruntime-${runtime} is not installed here (${e.message.split('\n')[0]})`);
  process.exit(77);
}
const session = await createSession(rt, model);
const x = randomTensor(shape, -1, 1, 1);
const feeds = { [session.inputNames[0]]: x };
for (let i = 0; i < 5; ++i) await runSession(rt, session, feeds);
const times = [];
for (let i = 0; i < iters; ++i) {
  const t0 = performance.now();
  for (let b = 0; b < batch; ++b) await runSession(rt, session, feeds);
  times.push((performance.now() - t0) / batch);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const res = { model, runtime: `onnxruntime-${runtime} ${rt.version}`, threads, batch, iters,
              ms_per_face_median: +median.toFixed(3), ms_per_face_min: +times[0].toFixed(3) };
console.log(args.includes('--json') ? JSON.stringify(res) : `${res.runtime} threads=${threads} batch=${batch}: ${res.ms_per_face_median} ms/face (median of ${iters}, min ${res.ms_per_face_min})`);
