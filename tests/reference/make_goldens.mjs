// Generates TensorFlow.js (wasm backend, 1 thread, SIMD) reference outputs for the
// face models, for tests/engine/tfjs_parity_test.cpp.
//
//   node tests/reference/make_goldens.mjs [--models DIR] [--samples DIR] [--out DIR] [--only a,b]
//
// For each model and each case (random / real face crops, batch 1 / batch 8) it
// writes <out>/<model>/<case>.input.npy and <case>.out<k>.npy, and a manifest
// <out>/manifest.json describing files, output names and tolerance kinds.
// Models whose TF.js graph only accepts batch 1 get their batch-8 reference by
// running TF.js 8 times at batch 1 and stacking the rows ("tfjs_stacked": true).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { execute, initWasm, loadModel, rng, seedFromString, tf, writeNpy } from './lib.mjs';
import { decodeJpeg } from './find_faces.mjs';
import { kModels, modelSpec } from './models.mjs';
import { makeAttributeGoldens } from './attributes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const modelsDir = arg('--models', process.env.FK_MODELS_DIR ? path.join(process.env.FK_MODELS_DIR, 'human') : path.join(root, 'models', 'human'));
const samplesDir = arg('--samples', path.join(root, 'data', 'samples'));
const outDir = arg('--out', path.join(root, 'build', 'tfjs_goldens'));
const only = arg('--only', '');
const boxesFile = path.join(here, 'face_boxes.json');

// Box grown around its centre so the crop includes some context, like a detector margin.
function grow(box, f) {
  const [y1, x1, y2, x2] = box;
  const cy = (y1 + y2) / 2;
  const cx = (x1 + x2) / 2;
  const h = ((y2 - y1) * f) / 2;
  const w = ((x2 - x1) * f) / 2;
  return [cy - h, cx - w, cy + h, cx + w];
}

// All face crops from the sample photos at size [h, w], values 0..255, shape [N, h, w, 3].
function faceCrops(images, h, w) {
  return tf.tidy(() => {
    const parts = images.map(({ img, boxes }) => tf.image.cropAndResize(img, boxes, boxes.map(() => 0), [h, w], 'bilinear'));
    return tf.concat(parts, 0);
  });
}

// Maps 0..255 RGB crops onto the model's input: optional grayscale, then the range.
function toModelInput(crops, spec) {
  return tf.tidy(() => {
    let x = crops;
    if (spec.gray) {
      const [r, g, b] = tf.split(x, 3, 3);
      x = tf.addN([tf.mul(r, 0.2989), tf.mul(g, 0.587), tf.mul(b, 0.114)]);
    }
    const [lo, hi] = spec.range;
    return tf.add(tf.mul(x, (hi - lo) / 255), lo);
  });
}

function randomInput(shape, spec, seed) {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const [lo, hi] = spec.range;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * r();
  return tf.tensor(data, shape, 'float32');
}

// Output (signature key or node name, graph node name) pairs from model.json.
function outputsOf(modelJson, model) {
  const sig = modelJson.signature?.outputs;
  if (sig && Object.keys(sig).length) {
    // Keep TF.js's order (model.outputNodes) so the list matches what execute() returns.
    return model.outputNodes.map((key) => {
      const k = Object.keys(sig).find((s) => s === key || s.replace(/:0$/, '') === key.replace(/:0$/, ''));
      const node = (k ? sig[k].name : key).replace(/:0$/, '');
      return { key: (k ?? key).replace(/:0$/, ''), node };
    });
  }
  return model.outputNodes.map((n) => ({ key: n.replace(/:0$/, ''), node: n.replace(/:0$/, '') }));
}

function inputOf(modelJson, model) {
  const ph = modelJson.modelTopology.node.filter((n) => n.op === 'Placeholder');
  if (ph.length !== 1) throw new Error(`expected one Placeholder, found ${ph.length}`);
  const shape = ph[0].attr.shape.shape.dim.map((d) => Number(d.size));
  return { node: ph[0].name, key: model.inputs[0].name.replace(/:0$/, ''), shape };
}

async function runModel(model, x, nodes, stacked) {
  if (!stacked) {
    const outs = execute(model, x, nodes);
    const res = [];
    for (const t of outs) res.push({ shape: t.shape, data: await t.data() });
    tf.dispose(outs);
    return res;
  }
  // Batch fixed to 1 in the TF.js graph: run row by row and stack.
  const n = x.shape[0];
  const rows = [];
  for (let i = 0; i < n; i++) {
    const xi = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
    const outs = execute(model, xi, nodes);
    rows.push(outs);
    tf.dispose(xi);
  }
  const res = [];
  for (let k = 0; k < nodes.length; k++) {
    const t = tf.concat(rows.map((r) => r[k]), 0);
    res.push({ shape: t.shape, data: await t.data() });
    tf.dispose(t);
  }
  rows.forEach((r) => tf.dispose(r));
  return res;
}

async function main() {
  const info = await initWasm();
  fs.mkdirSync(outDir, { recursive: true });
  const faceBoxes = JSON.parse(fs.readFileSync(boxesFile, 'utf8'));
  const images = [];
  for (const [file, v] of Object.entries(faceBoxes.images)) {
    if (!v.faces.length) continue;
    const p = path.join(samplesDir, file);
    if (!fs.existsSync(p)) throw new Error(`sample photo missing: ${p} (see scripts/ to fetch the samples)`);
    const img = tf.tidy(() => tf.expandDims(tf.cast(decodeJpeg(p), 'float32'), 0));
    images.push({ img, boxes: v.faces.map((f) => grow(f.box, 1.25)) });
  }
  const nFaces = images.reduce((a, b) => a + b.boxes.length, 0);
  if (nFaces < 9) throw new Error(`need at least 9 face boxes in ${boxesFile}, found ${nFaces}`);

  const selected = only ? only.split(',').map((s) => s.trim()).filter((s) => s !== 'attributes').map(modelSpec) : kModels;
  const manifest = {
    generator: 'tests/reference/make_goldens.mjs',
    tfjs: info.tfjs,
    backend: info.backend,
    simd: info.simd,
    threads: info.threads,
    tolerance: { max_abs_rel: 1e-4, cosine: 0.99999 },
    models: [],
  };
  const t0 = performance.now();
  for (const spec of selected) {
    const jsonPath = path.join(modelsDir, `${spec.name}.json`);
    if (!fs.existsSync(jsonPath)) {
      console.log(`${spec.name}: model not found at ${jsonPath}, skipped`);
      continue;
    }
    const tm = performance.now();
    const modelJson = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
    const model = await loadModel(jsonPath);
    const input = inputOf(modelJson, model);
    const outputs = outputsOf(modelJson, model);
    for (const e of spec.embeddings ?? []) {
      if (!outputs.some((o) => o.node === e)) outputs.push({ key: e, node: e });
    }
    const nodes = outputs.map((o) => o.node);
    const stacked = input.shape[0] === 1;  // TF.js refuses batch > 1
    const [, h, w, c] = input.shape;
    const dir = path.join(outDir, spec.name);
    fs.mkdirSync(dir, { recursive: true });

    const crops = faceCrops(images, h, w);
    const faces = toModelInput(crops, spec);
    tf.dispose(crops);
    const cases = [
      { name: 'random_b1', batch: 1, make: () => randomInput([1, h, w, c], spec, seedFromString(`${spec.name}/b1`)) },
      { name: 'face_b1', batch: 1, make: () => tf.slice(faces, [nFaces - 1, 0, 0, 0], [1, -1, -1, -1]) },
      { name: 'random_b8', batch: 8, make: () => randomInput([8, h, w, c], spec, seedFromString(`${spec.name}/b8`)) },
      { name: 'face_b8', batch: 8, make: () => tf.slice(faces, [0, 0, 0, 0], [8, -1, -1, -1]) },
    ];
    const entry = {
      name: spec.name,
      model: `${spec.name}.json`,
      input: { name: input.node, key: input.key, shape: input.shape, range: spec.range, gray: !!spec.gray },
      outputs: outputs.map((o) => ({
        name: o.node,
        key: o.key,
        compare: (spec.embeddings ?? []).includes(o.node) ? 'cosine' : 'max_abs_rel',
      })),
      tfjs_stacked_batch: stacked,
      cases: [],
    };
    for (const cs of cases) {
      const x = cs.make();
      const res = await runModel(model, x, nodes, stacked && cs.batch > 1);
      const inFile = `${spec.name}/${cs.name}.input.npy`;
      writeNpy(path.join(outDir, inFile), x.shape, await x.data());
      const outFiles = [];
      res.forEach((r, k) => {
        const f = `${spec.name}/${cs.name}.out${k}.npy`;
        writeNpy(path.join(outDir, f), r.shape, r.data instanceof Float32Array ? r.data : Float32Array.from(r.data));
        outFiles.push(f);
      });
      entry.cases.push({ name: cs.name, batch: cs.batch, input: inFile, outputs: outFiles, output_shapes: res.map((r) => r.shape) });
      tf.dispose(x);
    }
    tf.dispose(faces);
    model.dispose();
    manifest.models.push(entry);
    console.log(`${spec.name}: ${outputs.map((o) => o.node).join(', ')}${stacked ? ' (batch 8 stacked from batch 1)' : ''} ` +
      `[${((performance.now() - tm) / 1000).toFixed(1)} s]`);
  }
  if (!only || only.split(',').includes('attributes')) {
    // Human's attribute code paths on Human-style face crops (192x192, 0..1).
    const ta = performance.now();
    const crops = tf.tidy(() => tf.div(faceCrops(images, 192, 192), 255));
    const entry = await makeAttributeGoldens(modelsDir, crops, outDir);
    tf.dispose(crops);
    if (entry) {
      manifest.attributes = entry;
      console.log(`attributes: ${entry.faces} faces [${((performance.now() - ta) / 1000).toFixed(1)} s]`);
    } else {
      console.log('attributes: a model is missing, skipped');
    }
  }
  images.forEach((i) => tf.dispose(i.img));
  fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  console.log(`wrote ${path.join(outDir, 'manifest.json')} (${manifest.models.length} models, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

main().catch((e) => {
  console.error(`make_goldens: ${e.stack || e.message}`);
  process.exit(1);
});
