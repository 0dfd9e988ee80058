// Peer for `facekit eval attributes`: the Human library (@vladmandic/human 3.3.6) on TF.js wasm in
// Node, offline, with its face attributes on: description (faceres: age, gender), emotion,
// antispoof ("real") and liveness ("live"); detector blazeface + facemesh as human_speed.mjs.
//
//   node tests/reference/human/human_attributes.mjs [--models-dir DIR] [--threads N] PHOTO.jpg|PHOTO.ppm...
//
// Prints one JSON object: {"library", "version", "tfjs", "backend", "per_photo": [{"file",
// "width", "height", "faces": [{"box": [x, y, w, h], "age", "gender", "genderScore",
// "emotion": [{"score", "emotion"}...], "real", "live"}], "ms"}], "seconds"}: "ms" is Human's
// detect() alone (decode excluded), after one warm-up call on the first photo. JPEG photos are decoded with jpeg-js;
// `facekit eval attributes` passes PPMs of its own decode (EXIF applied).
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
const photos = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--models-dir' || process.argv[i] === '--threads') { i++; continue; }
  photos.push(process.argv[i]);
}
const threads = Math.max(1, Number(arg('--threads', '1')));
const modelsDir = path.resolve(arg('--models-dir', process.env.FK_MODELS_DIR ? path.join(process.env.FK_MODELS_DIR, 'human')
                                                                           : path.join(root, 'models', 'human')));

function fail(msg) {
  process.stderr.write(`human_attributes: ${msg}\n`);
  process.exit(1);
}

async function main() {
  if (photos.length === 0) fail('no photos given (usage: human_attributes.mjs [--models-dir DIR] PHOTO.jpg...)');
  for (const m of ['faceres', 'emotion', 'antispoof', 'liveness'])
    if (!fs.existsSync(path.join(modelsDir, `${m}.json`))) fail(`Human model ${m}.json not found in ${modelsDir} (run scripts/fetch_models.sh)`);
  let human;
  try {
    human = await createHuman({ modelsDir, threads, attributes: true });
  } catch (e) {
    fail(e.message);
  }
  const per = [];
  let warm = false;
  for (const file of photos) {
    if (!/\.(jpe?g|ppm)$/i.test(file)) fail(`${file}: only JPEG and binary PPM photos are supported by this peer`);
    const img = decode(file);
    const t = human.tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
    if (!warm) { await human.detect(t); warm = true; }  // kernels, weights
    const t0 = process.hrtime.bigint();
    const res = await human.detect(t);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    human.tf.dispose(t);
    if (res.error) fail(`${file}: ${res.error}`);
    per.push({
      file, width: img.width, height: img.height,
      faces: res.face.map((f) => ({
        box: f.box, age: f.age, gender: f.gender, genderScore: f.genderScore, emotion: f.emotion, real: f.real, live: f.live,
      })),
      ms: Number(ms.toFixed(2)),
    });
  }
  process.stdout.write(JSON.stringify({
    library: '@vladmandic/human', version: human.version, tfjs: human.tf.version_core, backend: human.tf.getBackend(),
    threads, seconds: Number((per.reduce((a, p) => a + p.ms, 0) / 1000).toFixed(4)), per_photo: per,
  }) + '\n');
}

main().catch((e) => fail(e.stack || e.message));
