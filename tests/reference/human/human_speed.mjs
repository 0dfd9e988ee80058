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
import { fileURLToPath } from 'node:url';

import { createHuman, decode } from './human_setup.mjs';

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


async function main() {
  if (photos.length === 0) fail('no photos given (usage: human_speed.mjs [--repeat R] PHOTO...)');
  for (const p of photos)
    if (!/\.(jpe?g|ppm)$/i.test(p)) fail(`${p}: only JPEG (jpeg-js) and binary PPM photos are supported by this peer`);
  if (!fs.existsSync(path.join(modelsDir, 'faceres.json'))) fail(`Human models not found in ${modelsDir} (run scripts/fetch_models.sh)`);

  let human;
  try {
    human = await createHuman({ modelsDir, threads, maxFaces });
  } catch (e) {
    fail(e.message);
  }

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
