// ONNX Runtime (onnxruntime-web, wasm, 1 thread) goldens for facekit's ONNX parity test
// (tests/engine/onnx_parity_test.cpp).
//   node make_onnx_goldens.mjs --models DIR --out DIR
// For every model in MODELS below: seeded random inputs in the model's input range,
// batch 1 and batch 8 (ORT run once per example: the exports fix batch 1), written as
// NCHW .npy files (the ONNX layout), plus manifest.json listing the cases.
import fs from 'node:fs';
import path from 'node:path';
import { loadOrt, createSession, runSession, randomTensor, writeNpy } from './lib.mjs';

// name, input range (what the faceplugin JS pre-processing feeds), embedding flag.
export const MODELS = [
  { name: 'fr_feature', lo: -1, hi: 1, embedding: true },
  { name: 'fr_detect', lo: -1, hi: 1 },
  { name: 'fr_landmark', lo: 0, hi: 1 },
  { name: 'fr_liveness', lo: 0, hi: 1 },
  { name: 'fr_age', lo: 0, hi: 1 },
  { name: 'fr_gender', lo: 0, hi: 1 },
  { name: 'fr_pose', lo: -2, hi: 2 },
  { name: 'fr_eye', lo: 0, hi: 1 },
  { name: 'fr_expression', lo: -2, hi: 2 },
];
const BATCHES = [1, 8];

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const modelsDir = opt('--models');
const outDir = opt('--out');
if (!modelsDir || !outDir) {
  console.error('usage: node make_onnx_goldens.mjs --models DIR --out DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const rt = await loadOrt('web', 1);
const manifest = { runtime: `onnxruntime-web ${rt.version} (wasm, ${rt.threads} thread)`, layout: 'NCHW', cases: [] };
let seed = 1000;
for (const m of MODELS) {
  const file = path.join(modelsDir, `${m.name}.onnx`);
  if (!fs.existsSync(file)) { console.log(`skip ${m.name}: ${file} missing`); continue; }
  const session = await createSession(rt, file);
  const inName = session.inputNames[0];
  // The exported input shape (batch 1): read it from a probe run's metadata is not
  // exposed by ORT-web, so use the known faceplugin sizes.
  const shape = { fr_feature: [3, 112, 112], fr_detect: [3, 240, 320], fr_landmark: [1, 64, 64],
                  fr_liveness: [3, 128, 128], fr_age: [3, 64, 64], fr_gender: [3, 64, 64],
                  fr_pose: [3, 224, 224], fr_eye: [1, 24, 24], fr_expression: [3, 224, 224] }[m.name];
  for (const batch of BATCHES) {
    const per = shape.reduce((a, b) => a * b, 1);
    const x = randomTensor([batch, ...shape], m.lo, m.hi, seed++);
    const outs = session.outputNames.map(() => null);
    for (let b = 0; b < batch; ++b) {
      const xb = { shape: [1, ...shape], data: x.data.subarray(b * per, (b + 1) * per) };
      const o = await runSession(rt, session, { [inName]: xb });
      session.outputNames.forEach((name, k) => {
        const t = o[name];
        if (!outs[k]) outs[k] = { shape: [batch, ...t.shape.slice(1)], data: new Float32Array(batch * t.data.length) };
        outs[k].data.set(t.data, b * t.data.length);
      });
    }
    const base = `${m.name}_b${batch}`;
    writeNpy(path.join(outDir, `${base}_input.npy`), x.shape, x.data);
    const outputs = outs.map((t, k) => {
      const f = `${base}_output${k}.npy`;
      writeNpy(path.join(outDir, f), t.shape, t.data);
      return f;
    });
    manifest.cases.push({ model: m.name, batch, embedding: !!m.embedding, input: `${base}_input.npy`,
                          output_names: session.outputNames, outputs });
    console.log(`${base}: outputs ${outs.map((t) => `[${t.shape}]`).join(' ')}`);
  }
}
fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1));
console.log(`wrote ${manifest.cases.length} cases to ${outDir}`);
