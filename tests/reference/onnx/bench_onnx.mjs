// ONNX Runtime peer benchmark for `facekit bench engine` (and by hand).
//
//   node bench_onnx.mjs MODEL.onnx[,MODEL2.onnx...] [--runtime node|web] [--threads 1,2]
//        [--batches 1,8,16,32] [--time S] [--max-runs N] [--stacked] [--json]
//
// Per model x threads x batch: one warm-up run, then repeated runs until --time seconds
// have passed (at least 3 runs, at most --max-runs, default 200); ms_per_input = median run
// time / batch. Inputs: seeded uniform noise in the model's input range (table below), NCHW
// as the model wants it; the output is read back to JS on every run (ORT always does).
//
// Batch: the faceplugin exports fix the batch at 1 (input [1,3,H,W], Reshape constants
// [1,...]). For batch > 1 the script rewrites the model for ORT the way facekit's importer
// makes it dynamic (docs/onnx.md "Batch: dynamic"): dim 0 of every graph input/output becomes
// the symbol "N", constant Reshape shapes with shape[0] == 1 get shape[0] = 0 ("copy the
// input's dim 0", allowzero = 0), and intermediate value_info is dropped. The rewritten model
// is checked once against batch-1 runs of the original (the first two examples, max |diff| <=
// 1e-4 * max |ref| per output) and used only if it matches: "mode": "batched". Otherwise,
// or with --stacked, a batch is B sequential batch-1 runs of the original: "mode": "stacked".
// The rewrite needs onnx.proto (Debian's libonnx-dev, /usr/include/onnx/onnx.proto) and
// protobufjs (a dependency of onnxruntime-web).
//
// --runtime node (default): onnxruntime-node, CPU execution provider, intraOpNumThreads =
// threads, interOpNumThreads = 1, graph optimisation "all". --runtime web: onnxruntime-web
// wasm (SIMD; numThreads > 1 needs worker threads). Without --json prints one line per cell.
// Exit 77 when the runtime is not installed (`npm ci` here; scripts/install_deps.sh does it).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadOrt, createSession, randomTensor } from './lib.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 && i + 1 < args.length ? args[i + 1] : d; };
const ints = (s) => s.split(',').filter((x) => x.length).map(Number);
const usage = 'usage: node bench_onnx.mjs MODEL.onnx[,MODEL2.onnx] [--runtime node|web] [--threads 1,2] ' +
              '[--batches 1,8,16,32] [--time S] [--max-runs N] [--stacked] [--json]';
const modelArg = args[0] && !args[0].startsWith('--') ? args[0] : opt('--models', '');
if (!modelArg) { console.error(usage); process.exit(2); }
const models = modelArg.split(',').filter((s) => s.length);
const runtime = opt('--runtime', 'node');
const threadsList = ints(opt('--threads', '1'));
const batches = ints(opt('--batches', opt('--batch', '1')));
const timeS = Number(opt('--time', '1'));
const maxRuns = Number(opt('--max-runs', opt('--iters', '200')));
const forceStacked = args.includes('--stacked');
const jsonOut = args.includes('--json');
for (const v of [...threadsList, ...batches, maxRuns])
  if (!Number.isInteger(v) || v <= 0) { console.error(`bench_onnx: bad number in arguments\n${usage}`); process.exit(2); }

// Input value range per faceplugin model (what its JS pre-processing feeds; mirrors
// make_onnx_goldens.mjs). Timing does not depend on it; other models get [-1, 1].
const RANGES = { fr_feature: [-1, 1], fr_detect: [-1, 1], fr_landmark: [0, 1], fr_liveness: [0, 1], fr_age: [0, 1],
                 fr_gender: [0, 1], fr_pose: [-2, 2], fr_eye: [0, 1], fr_expression: [-2, 2] };

// ---- batch-dynamic rewrite ---------------------------------------------------------------

let onnxProto = null;
function loadOnnxProto() {
  if (onnxProto) return onnxProto;
  const pb = require('protobufjs');
  const file = ['/usr/include/onnx/onnx.proto', '/usr/local/include/onnx/onnx.proto'].find((f) => fs.existsSync(f));
  if (!file) throw new Error('onnx.proto not found (apt-get install libonnx-dev)');
  onnxProto = pb.loadSync(file).lookupType('onnx.ModelProto');
  return onnxProto;
}

const INT64 = 7;
function int64Values(t) {
  if (t.rawData && t.rawData.length) {
    const b = Buffer.from(t.rawData);
    return Array.from({ length: b.length / 8 }, (_, i) => Number(b.readBigInt64LE(8 * i)));
  }
  return (t.int64Data || []).map((v) => Number(v.toString()));
}
function setInt64Values(t, vals) {
  const b = Buffer.alloc(8 * vals.length);
  vals.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i));
  t.rawData = b;
  t.int64Data = [];
}

// Returns {bytes, reshapes} of the batch-dynamic model.
function makeBatchDynamic(bytes) {
  const M = loadOnnxProto();
  const m = M.decode(bytes);
  const g = m.graph;
  const init = new Set(g.initializer.map((t) => t.name));
  for (const vi of [...g.input.filter((v) => !init.has(v.name)), ...g.output]) {
    const dims = vi.type?.tensorType?.shape?.dim;
    if (dims && dims.length) dims[0] = { dimParam: 'N' };
  }
  g.valueInfo = [];
  const byName = new Map(g.initializer.map((t) => [t.name, t]));
  for (const n of g.node)
    if (n.opType === 'Constant' && n.attribute.length && n.attribute[0].t) byName.set(n.output[0], n.attribute[0].t);
  let reshapes = 0;
  for (const n of g.node) {
    if (n.opType !== 'Reshape' || n.input.length < 2) continue;
    if (n.attribute.some((a) => a.name === 'allowzero' && Number(a.i) === 1)) continue;
    const t = byName.get(n.input[1]);
    if (!t || t.dataType !== INT64) continue;
    const v = int64Values(t);
    if (v.length && v[0] === 1) { v[0] = 0; setInt64Values(t, v); ++reshapes; }
  }
  return { bytes: M.encode(m).finish(), reshapes };
}

// ---- timing ---------------------------------------------------------------------------------

const median = (v) => { const s = [...v].sort((a, b) => a - b); const k = s.length >> 1; return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2; };

async function runOut(rt, session, x) {
  const res = await session.run({ [session.inputNames[0]]: new rt.ort.Tensor('float32', x.data, x.shape) });
  return session.outputNames.map((k) => res[k].data);
}

async function timeCell(fn, batch) {
  await fn();  // warm-up
  const times = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < 3 || performance.now() - start < timeS * 1000)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return { ms_per_input: +(median(times) / batch).toFixed(4), min_ms_per_input: +(Math.min(...times) / batch).toFixed(4), runs: times.length };
}

// First two examples of the batched output against batch-1 runs of the original model.
async function batchedMatches(rt, single, batched, x1shape, lo, hi) {
  const b = 2;
  const xb = randomTensor([b, ...x1shape.slice(1)], lo, hi, 7);
  const outB = await runOut(rt, batched, xb);
  const per = xb.data.length / b;
  for (let i = 0; i < b; ++i) {
    const xi = { shape: x1shape, data: xb.data.slice(i * per, (i + 1) * per) };
    const outI = await runOut(rt, single, xi);
    for (let o = 0; o < outI.length; ++o) {
      const n = outI[o].length;
      if (outB[o].length !== b * n) return `output ${o} has ${outB[o].length} values at batch ${b}, expected ${b * n}`;
      let maxRef = 0, maxDiff = 0;
      for (let k = 0; k < n; ++k) {
        maxRef = Math.max(maxRef, Math.abs(outI[o][k]));
        maxDiff = Math.max(maxDiff, Math.abs(outI[o][k] - outB[o][i * n + k]));
      }
      if (maxDiff > 1e-4 * maxRef + 1e-6) return `output ${o} differs from batch-1 runs (max |diff| ${maxDiff})`;
    }
  }
  return '';
}

let rt0;
try {
  rt0 = await loadOrt(runtime, threadsList[0]);
} catch (e) {
  console.error(`onnxruntime-${runtime} is not installed here (${e.message.split('\n')[0]}): run npm ci in ${path.dirname(new URL(import.meta.url).pathname)}`);
  process.exit(77);
}
const results = [];
for (const file of models) {
  const name = path.basename(file).replace(/\.onnx$/, '');
  const [lo, hi] = RANGES[name] || [-1, 1];
  if (!fs.existsSync(file)) { results.push({ model: name, error: `model not found: ${file}` }); continue; }
  const bytes = fs.readFileSync(file);
  let dyn = null, dynNote = forceStacked ? '--stacked' : '';
  if (!forceStacked && batches.some((b) => b > 1)) {
    try { dyn = makeBatchDynamic(bytes); } catch (e) { dynNote = `no batch-dynamic model: ${e.message}`; }
  }
  for (const threads of threadsList) {
    const rt = await loadOrt(runtime, threads);
    const single = await createSession(rt, file);
    const shape = single.inputMetadata?.[0]?.shape?.map(Number) || ints(opt('--shape', '1,3,112,112'));
    let batched = null;
    if (dyn) {
      try {
        batched = await rt.ort.InferenceSession.create(dyn.bytes, rt.options);
        const why = await batchedMatches(rt, single, batched, shape, lo, hi);
        if (why) { dynNote = `batch-dynamic model rejected: ${why}`; batched = null; dyn = null; }
      } catch (e) {
        dynNote = `batch-dynamic model rejected: ${e.message.split('\n')[0]}`; batched = null; dyn = null;
      }
    }
    for (const b of batches) {
      let cell;
      if (b === 1 || !batched) {
        const x = randomTensor(shape, lo, hi, 1234 + b);
        cell = await timeCell(async () => { for (let i = 0; i < b; ++i) await runOut(rt, single, x); }, b);
        cell.mode = b === 1 ? 'single' : 'stacked';
      } else {
        const x = randomTensor([b, ...shape.slice(1)], lo, hi, 1234 + b);
        cell = await timeCell(() => runOut(rt, batched, x), b);
        cell.mode = 'batched';
      }
      const r = { model: name, batch: b, threads, ...cell };
      if (b > 1 && cell.mode === 'stacked' && dynNote) r.note = dynNote;
      results.push(r);
      if (!jsonOut)
        console.log(`${rt.kind === 'node' ? 'onnxruntime-node' : 'onnxruntime-web'} ${rt.version} ${name} threads=${threads} batch=${b} ` +
                    `(${cell.mode}): ${cell.ms_per_input} ms/input (median of ${cell.runs}, min ${cell.min_ms_per_input})`);
    }
    await single.release?.();
    await batched?.release?.();
  }
}
if (jsonOut)
  process.stdout.write(JSON.stringify({ runtime: `onnxruntime-${runtime}`, version: rt0.version,
                                        execution_provider: runtime === 'node' ? 'cpu' : 'wasm', results }) + '\n');
