// face-api (@vladmandic/face-api 1.7.15 on @tensorflow/tfjs-backend-wasm 4.22.0) goldens for
// facekit's weights-only nets (tests/engine/faceapi_test.cpp).
//   node make_faceapi_goldens.mjs --models DIR --out DIR [--samples DIR] [--count N]
// DIR holds face_recognition_model-weights_manifest.json and face_landmark_68_model-... (+ .bin).
// Inputs are N seeded random RGB chips, 0..255 integers (uniform noise and smooth blobs), then
// (with --samples) one face crop per sample photo: a square around the first BlazeFace box of
// ../face_boxes.json (1.3 x its longer side), bilinear tf.image.cropAndResize to the chip size.
// Written as NHWC .npy; outputs come from face-api's own API, one call per chip:
//   recognition: nets.faceRecognitionNet.computeFaceDescriptor(tensor [1,150,150,3]) -> [N,128]
//   landmarks:   nets.faceLandmark68Net.detectLandmarks(tensor [1,112,112,3]).positions
//                -> [N,136] pixels (x0,y0,x1,y1,...) in the 112 x 112 chip.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { writeNpy, rng } from '../npy.mjs';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const modelsDir = opt('--models');
const outDir = opt('--out');
const count = Number(opt('--count', '4'));
const samplesDir = opt('--samples');
const here = path.dirname(fileURLToPath(import.meta.url));
if (!modelsDir || !outDir) {
  console.error('usage: node make_faceapi_goldens.mjs --models DIR --out DIR [--count N]');
  process.exit(2);
}

const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
await tf.setBackend('wasm');
await tf.ready();


// Even chips: uniform noise; odd chips: a few smooth Gaussian blobs plus mild noise (closer to
// photo statistics). Integer values 0..255 like a decoded image.
function chip(size, seed) {
  const r = rng(seed);
  const d = new Float32Array(size * size * 3);
  if (seed % 2 === 0) {
    for (let i = 0; i < d.length; ++i) d[i] = Math.floor(r() * 256);
    return d;
  }
  const blobs = Array.from({ length: 6 }, () => ({
    x: r() * size, y: r() * size, s: size * (0.1 + 0.3 * r()), c: [r(), r(), r()].map((v) => 255 * v - 128) }));
  const base = [r() * 255, r() * 255, r() * 255];
  for (let y = 0; y < size; ++y)
    for (let x = 0; x < size; ++x)
      for (let c = 0; c < 3; ++c) {
        let v = base[c];
        for (const b of blobs) v += b.c[c] * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.s * b.s));
        v += (r() - 0.5) * 16;
        d[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return d;
}

// Face crops from the sample photos: [{ file, box: [y1, x1, y2, x2] normalised, square in pixels }].
function faceCrops() {
  if (!samplesDir || !fs.existsSync(samplesDir)) return [];
  const boxes = JSON.parse(fs.readFileSync(path.join(here, '..', 'face_boxes.json'), 'utf8')).images;
  const out = [];
  for (const file of Object.keys(boxes).sort()) {
    const e = boxes[file];
    if (!e.faces.length || !fs.existsSync(path.join(samplesDir, file))) continue;
    const [y1, x1, y2, x2] = e.faces[0].box;
    const cy = (y1 + y2) / 2 * e.height, cx = (x1 + x2) / 2 * e.width;
    const side = 1.3 * Math.max((y2 - y1) * e.height, (x2 - x1) * e.width);
    out.push({ file, box: [(cy - side / 2) / e.height, (cx - side / 2) / e.width,
                           (cy + side / 2) / e.height, (cx + side / 2) / e.width] });
  }
  return out;
}
const crops = faceCrops();
const images = new Map();
function cropChip(c, size) {
  if (!images.has(c.file)) {
    const img = jpeg.decode(fs.readFileSync(path.join(samplesDir, c.file)),
                            { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
    images.set(c.file, tf.tensor4d(Float32Array.from(img.data), [1, img.height, img.width, 3]));
  }
  return tf.tidy(() => tf.image.cropAndResize(images.get(c.file), [c.box], [0], [size, size], 'bilinear').dataSync());
}

fs.mkdirSync(outDir, { recursive: true });
const manifest = { runtime: `@vladmandic/face-api ${faceapi.version} on tfjs ${tf.version.tfjs} (${tf.getBackend()})`,
                   layout: 'NHWC', cases: [] };

async function makeCase(name, net, size, outLen, run, seed0) {
  const file = path.join(modelsDir, `${name}-weights_manifest.json`);
  if (!fs.existsSync(file)) { console.log(`skip ${name}: ${file} missing`); return; }
  await net.loadFromDisk(modelsDir);
  const per = size * size * 3;
  const total = count + crops.length;
  const x = new Float32Array(total * per);
  const y = new Float32Array(total * outLen);
  for (let i = 0; i < total; ++i) {
    const d = i < count ? chip(size, seed0 + i) : cropChip(crops[i - count], size);
    x.set(d, i * per);
    const t = tf.tensor4d(d, [1, size, size, 3], 'float32');
    const o = await run(t);
    t.dispose();
    if (o.length !== outLen) throw new Error(`${name}: expected ${outLen} outputs, got ${o.length}`);
    y.set(o, i * outLen);
  }
  writeNpy(path.join(outDir, `${name}_input.npy`), [total, size, size, 3], x);
  writeNpy(path.join(outDir, `${name}_output.npy`), [total, outLen], y);
  manifest.cases.push({ model: `${name}-weights_manifest.json`, input: `${name}_input.npy`, output: `${name}_output.npy`,
                        size, random_chips: count, face_crops: crops.map((c) => c.file) });
  console.log(`${name}: ${count} random chips + ${crops.length} face crops`);
}

await makeCase('face_recognition_model', faceapi.nets.faceRecognitionNet, 150, 128,
               async (t) => Array.from(await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t)), 100);
await makeCase('face_landmark_68_model', faceapi.nets.faceLandmark68Net, 112, 136, async (t) => {
  const lm = await faceapi.nets.faceLandmark68Net.detectLandmarks(t);
  return lm.positions.flatMap((p) => [p.x, p.y]);
}, 200);
fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
