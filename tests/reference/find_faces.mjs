// Finds face boxes in the sample photos with BlazeFace (TF.js, wasm) and writes
// them to face_boxes.json. Run once; the JSON is committed so that golden
// generation does not depend on detector post-processing.
//
//   node tests/reference/find_faces.mjs [--models DIR] [--samples DIR] [--out face_boxes.json]
//
// Boxes are normalised [y1, x1, y2, x2] in image coordinates (tf.image.cropAndResize order).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';

import { initWasm, loadModel, tf } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const modelsDir = arg('--models', process.env.FK_MODELS_DIR ? path.join(process.env.FK_MODELS_DIR, 'human') : path.join(root, 'models', 'human'));
const samplesDir = arg('--samples', path.join(root, 'data', 'samples'));
const outFile = arg('--out', path.join(here, 'face_boxes.json'));
const minScore = Number(arg('--min-score', '0.75'));

// SSD anchors of the 256x256 BlazeFace: 16x16 grid x 2 anchors, 8x8 grid x 6 anchors.
function anchors(inputSize) {
  const spec = { strides: [inputSize / 16, inputSize / 8], counts: [2, 6] };
  const out = [];
  for (let s = 0; s < spec.strides.length; s++) {
    const stride = spec.strides[s];
    const grid = Math.floor((inputSize + stride - 1) / stride);
    for (let gy = 0; gy < grid; gy++)
      for (let gx = 0; gx < grid; gx++)
        for (let n = 0; n < spec.counts[s]; n++) out.push([stride * (gx + 0.5), stride * (gy + 0.5)]);
  }
  return out;
}

export function decodeJpeg(file) {
  const img = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
  return tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
}

async function main() {
  await initWasm();
  const model = await loadModel(path.join(modelsDir, 'blazeface-back.json'));
  const size = model.inputs[0].shape[1];
  const anc = anchors(size);
  const files = fs.readdirSync(samplesDir).filter((f) => f.endsWith('.jpg')).sort();
  const result = { model: 'blazeface-back', min_score: minScore, images: {} };
  for (const f of files) {
    const img = decodeJpeg(path.join(samplesDir, f));
    const [h, w] = img.shape;
    const x = tf.tidy(() => tf.sub(tf.div(tf.image.resizeBilinear(tf.expandDims(tf.cast(img, 'float32'), 0), [size, size]), 127.5), 1));
    const outs = model.execute(x);
    // Sort by size: [384x1, 512x1, 384x16, 512x16]; rows: 512 (16x16 grid) then 384 (8x8 grid).
    const sorted = outs.sort((a, b) => a.size - b.size);
    const merged = tf.tidy(() => tf.squeeze(tf.concat([tf.concat([sorted[1], sorted[3]], 2), tf.concat([sorted[0], sorted[2]], 2)], 1), [0]));
    const raw = await merged.array();
    const boxes = [];
    const scores = [];
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i];
      const cx = r[1] + anc[i][0];
      const cy = r[2] + anc[i][1];
      const bw = r[3];
      const bh = r[4];
      boxes.push([(cy - bh / 2) / size, (cx - bw / 2) / size, (cy + bh / 2) / size, (cx + bw / 2) / size]);
      scores.push(1 / (1 + Math.exp(-r[0])));
    }
    const keep = await tf.image.nonMaxSuppressionAsync(tf.tensor2d(boxes), tf.tensor1d(scores), 20, 0.3, minScore);
    const idx = await keep.array();
    result.images[f] = {
      width: w,
      height: h,
      faces: idx.map((i) => ({ box: boxes[i].map((v) => Math.round(v * 1e4) / 1e4), score: Math.round(scores[i] * 1e3) / 1e3 })),
    };
    console.log(`${f}: ${w}x${h}, ${idx.length} face(s)`);
    tf.dispose([img, x, merged, keep, ...outs]);
  }
  fs.writeFileSync(outFile, JSON.stringify(result, null, 1) + '\n');
  console.log(`wrote ${outFile}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`find_faces: ${e.message}`);
    process.exit(1);
  });
}
