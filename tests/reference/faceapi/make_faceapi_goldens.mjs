// face-api (@vladmandic/face-api 1.7.15 on @tensorflow/tfjs-backend-wasm 4.22.0) goldens for
// facekit's weights-only nets (tests/engine/faceapi_test.cpp).
//   node make_faceapi_goldens.mjs --models DIR --out DIR
// DIR holds face_recognition_model-weights_manifest.json and face_landmark_68_model-... (+ .bin).
// Inputs are seeded random RGB chips, 0..255 integers (uniform noise and smooth blobs), written
// as NHWC .npy; outputs come from face-api's own API, one call per chip:
//   recognition: nets.faceRecognitionNet.computeFaceDescriptor(tensor [1,150,150,3]) -> [N,128]
//   landmarks:   nets.faceLandmark68Net.detectLandmarks(tensor [1,112,112,3]).positions
//                -> [N,136] pixels (x0,y0,x1,y1,...) in the 112 x 112 chip.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const modelsDir = opt('--models');
const outDir = opt('--out');
const count = Number(opt('--count', '4'));
if (!modelsDir || !outDir) {
  console.error('usage: node make_faceapi_goldens.mjs --models DIR --out DIR [--count N]');
  process.exit(2);
}

const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
await tf.setBackend('wasm');
await tf.ready();

function writeNpy(file, shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1; h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([h, Buffer.from(header, 'latin1'),
                                        Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

// mulberry32: deterministic on every machine.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

fs.mkdirSync(outDir, { recursive: true });
const manifest = { runtime: `@vladmandic/face-api ${faceapi.version} on tfjs ${tf.version.tfjs} (${tf.getBackend()})`,
                   layout: 'NHWC', cases: [] };

async function makeCase(name, net, size, outLen, run, seed0) {
  const file = path.join(modelsDir, `${name}-weights_manifest.json`);
  if (!fs.existsSync(file)) { console.log(`skip ${name}: ${file} missing`); return; }
  await net.loadFromDisk(modelsDir);
  const per = size * size * 3;
  const x = new Float32Array(count * per);
  const y = new Float32Array(count * outLen);
  for (let i = 0; i < count; ++i) {
    const d = chip(size, seed0 + i);
    x.set(d, i * per);
    const t = tf.tensor4d(d, [1, size, size, 3], 'float32');
    const o = await run(t);
    t.dispose();
    if (o.length !== outLen) throw new Error(`${name}: expected ${outLen} outputs, got ${o.length}`);
    y.set(o, i * outLen);
  }
  writeNpy(path.join(outDir, `${name}_input.npy`), [count, size, size, 3], x);
  writeNpy(path.join(outDir, `${name}_output.npy`), [count, outLen], y);
  manifest.cases.push({ model: `${name}-weights_manifest.json`, input: `${name}_input.npy`, output: `${name}_output.npy`,
                        size, count });
  console.log(`${name}: ${count} chips`);
}

await makeCase('face_recognition_model', faceapi.nets.faceRecognitionNet, 150, 128,
               async (t) => Array.from(await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t)), 100);
await makeCase('face_landmark_68_model', faceapi.nets.faceLandmark68Net, 112, 136, async (t) => {
  const lm = await faceapi.nets.faceLandmark68Net.detectLandmarks(t);
  return lm.positions.flatMap((p) => [p.x, p.y]);
}, 200);
fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
