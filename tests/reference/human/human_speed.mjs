// Peer for `facekit eval speed`: the Human library (@vladmandic/human 3.3.6) on the TF.js
// wasm backend in Node, offline (models read from disk through a file:// load router).
//
//   node tests/reference/human/human_speed.mjs [--models-dir DIR] [--repeat R]
//        [--threads 1] [--max-faces 100] PHOTO...
//
// Face detection (blazeface-back, Human's default detector) + facemesh + description
// (faceres) enabled; iris, emotion, antispoof, liveness, attention, body, hand, object,
// gesture and segmentation off. Photos (JPEG, decoded with jpeg-js, or binary PPM as
// `facekit eval speed` writes them from its own decode) are read outside the timed part: the timing is Human's detect() only, per photo, one photo at a time, after
// one warm-up call; the best of R rounds is reported.
//
// Prints one JSON object on stdout:
//   {"library": "@vladmandic/human", "version", "tfjs", "backend", "simd", "threads",
//    "photos", "faces", "seconds", "decode_seconds", "photos_per_s", "faces_per_s",
//    "per_photo": [{"file", "faces", "ms"}...]}
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import jpeg from 'jpeg-js';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const kValueFlags = new Set(['--models-dir', '--repeat', '--threads', '--max-faces']);
const photos = [];
for (let i = 2; i < process.argv.length; i++) {
  if (kValueFlags.has(process.argv[i])) { i++; continue; }
  photos.push(process.argv[i]);
}
const modelsDir = path.resolve(arg('--models-dir', process.env.FK_MODELS_DIR ? path.join(process.env.FK_MODELS_DIR, 'human')
                                                                           : path.join(root, 'models', 'human')));
const repeat = Math.max(1, Number(arg('--repeat', '1')));
const threads = Math.max(1, Number(arg('--threads', '1')));
const maxFaces = Number(arg('--max-faces', '100'));

function fail(msg) {
  process.stderr.write(`human_speed: ${msg}\n`);
  process.exit(1);
}

// file:// URLs -> an IOHandler reading model.json and its weight shards with fs (Human
// calls tf.loadGraphModel(url); without tfjs-node nothing else handles file://).
function fileRouter(url) {
  if (typeof url !== 'string' || !url.startsWith('file://')) return null;
  const jsonPath = url.slice('file://'.length);
  return {
    async load() {
      if (!fs.existsSync(jsonPath)) throw new Error(`model file not found: ${jsonPath}`);
      const modelJSON = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      const dir = path.dirname(jsonPath);
      const specs = [];
      const buffers = [];
      for (const group of modelJSON.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const weightData = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0));
      let off = 0;
      for (const b of buffers) { weightData.set(b, off); off += b.length; }
      return {
        modelTopology: modelJSON.modelTopology, format: modelJSON.format, generatedBy: modelJSON.generatedBy,
        convertedBy: modelJSON.convertedBy, signature: modelJSON.signature,
        userDefinedMetadata: modelJSON.userDefinedMetadata, weightSpecs: specs, weightData: weightData.buffer,
      };
    },
  };
}

// Binary PPM (P6, maxval 255), as written by `facekit eval speed` from its own decode.
function readPpm(buf, file) {
  let pos = 0;
  const tokens = [];
  while (tokens.length < 4) {
    while (pos < buf.length && /\s/.test(String.fromCharCode(buf[pos]))) pos++;
    if (buf[pos] === 0x23) { while (pos < buf.length && buf[pos] !== 0x0a) pos++; continue; }  // comment
    let t = '';
    while (pos < buf.length && !/\s/.test(String.fromCharCode(buf[pos]))) t += String.fromCharCode(buf[pos++]);
    tokens.push(t);
  }
  pos++;  // the single whitespace after maxval
  const [magic, w, h, maxval] = [tokens[0], Number(tokens[1]), Number(tokens[2]), Number(tokens[3])];
  if (magic !== 'P6' || maxval !== 255 || !(w > 0) || !(h > 0) || buf.length < pos + w * h * 3)
    throw new Error(`${file}: not a binary 8-bit PPM (P6)`);
  return { width: w, height: h, data: new Uint8Array(buf.buffer, buf.byteOffset + pos, w * h * 3) };
}

function decode(file) {
  const buf = fs.readFileSync(file);
  if (/\.ppm$/i.test(file)) return readPpm(buf, file);
  const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048, maxResolutionInMP: 400 });
  return { width: img.width, height: img.height, data: img.data };
}

async function main() {
  if (photos.length === 0) fail('no photos given (usage: human_speed.mjs [--repeat R] PHOTO...)');
  for (const p of photos)
    if (!/\.(jpe?g|ppm)$/i.test(p)) fail(`${p}: only JPEG (jpeg-js) and binary PPM photos are supported by this peer`);
  if (!fs.existsSync(path.join(modelsDir, 'faceres.json'))) fail(`Human models not found in ${modelsDir} (run scripts/fetch_models.sh)`);

  tf.io.registerLoadRouter(fileRouter);
  const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
  setWasmPaths(distDir + path.sep);
  tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);

  // The package's "exports" map names its subpaths without "./", so Node refuses
  // '@vladmandic/human/dist/human.node-wasm': load the file by path from the dist folder.
  const humanDist = path.dirname(require.resolve('@vladmandic/human'));
  const { Human } = require(path.join(humanDist, 'human.node-wasm.js'));
  const off = { enabled: false };
  const human = new Human({
    backend: 'wasm',
    wasmPath: distDir + path.sep,
    modelBasePath: `file://${modelsDir}/`,
    debug: false,
    async: true,
    warmup: 'none',
    cacheSensitivity: 0,  // every photo is processed in full (no frame-to-frame caching)
    filter: { enabled: false },
    face: {
      enabled: true,
      detector: { modelPath: 'blazeface.json', maxDetected: maxFaces, minConfidence: 0.5, iouThreshold: 0.3, rotation: true, return: false },
      mesh: { enabled: true, modelPath: 'facemesh.json' },
      iris: { enabled: false }, emotion: { enabled: false }, antispoof: { enabled: false },
      liveness: { enabled: false }, attention: { enabled: false }, gear: { enabled: false },
      description: { enabled: true, modelPath: 'faceres.json' },
    },
    body: off, hand: off, object: off, gesture: off, segmentation: off,
  });
  await human.load();
  if (human.tf.getBackend() !== 'wasm') fail(`Human selected backend '${human.tf.getBackend()}', not wasm`);

  const t0 = process.hrtime.bigint();
  const images = photos.map((p) => decode(p));
  const decodeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const run = async (img) => {
    const t = human.tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
    const t1 = process.hrtime.bigint();
    const res = await human.detect(t);
    const ms = Number(process.hrtime.bigint() - t1) / 1e6;
    human.tf.dispose(t);
    if (res.error) throw new Error(res.error);
    // A face counts when Human gave it a description embedding (like facekit's templates).
    const faces = res.face.filter((f) => Array.isArray(f.embedding) ? f.embedding.length > 0 : !!f.embedding).length;
    return { faces, ms };
  };
  await run(images[0]);  // warm-up: kernels, weights upload

  let best = null;
  for (let r = 0; r < repeat; r++) {
    const per = [];
    for (let i = 0; i < images.length; i++) {
      const { faces, ms } = await run(images[i]);
      per.push({ file: photos[i], faces, ms: Number(ms.toFixed(2)) });
    }
    const seconds = per.reduce((s, p) => s + p.ms, 0) / 1000;
    if (!best || seconds < best.seconds) best = { seconds, per };
  }
  const faces = best.per.reduce((s, p) => s + p.faces, 0);
  const out = {
    library: '@vladmandic/human', version: human.version, tfjs: human.tf.version_core, backend: human.tf.getBackend(),
    simd: human.tf.env().getBool('WASM_HAS_SIMD_SUPPORT'), threads,
    photos: images.length, faces, rounds: repeat, seconds: Number(best.seconds.toFixed(4)),
    decode_seconds: Number(decodeSeconds.toFixed(4)),
    photos_per_s: Number((images.length / best.seconds).toFixed(3)), faces_per_s: Number((faces / best.seconds).toFixed(3)),
    per_photo: best.per,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
