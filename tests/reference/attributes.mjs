// Reference face attributes for tests/pipeline/attributes_test.cpp: Human 3.3.6's attribute
// code paths (src/face/faceres.ts, src/gear/emotion.ts, src/face/antispoof.ts,
// src/face/liveness.ts of @vladmandic/human, copied op for op below) on face crops shaped like
// Human's face.tensor ([1, 192, 192, 3], pixels 0..1), run face by face (batch 1) as Human runs
// them, on TF.js wasm.
//
// Writes <out>/attributes/crops.npy [N,192,192,3] and, per face, gender.npy [N] (the sigmoid),
// age_bins.npy [N,100], age.npy [N] (Human's formula), emotion.npy [N,7], real.npy [N]
// (antispoof), live.npy [N] (liveness); returns the manifest entry.
import fs from 'node:fs';
import path from 'node:path';

import { execute, loadModel, tf, writeNpy } from './lib.mjs';

const kNeeded = ['faceres', 'emotion', 'antispoof', 'liveness'];

async function values(t) {
  const d = await t.data();
  tf.dispose(t);
  return Array.from(d);
}

// crops: [N, 192, 192, 3] float32 tensor, 0..1.
export async function makeAttributeGoldens(modelsDir, crops, outDir) {
  for (const m of kNeeded) {
    if (!fs.existsSync(path.join(modelsDir, `${m}.json`))) return null;
  }
  const models = {};
  for (const m of kNeeded) models[m] = await loadModel(path.join(modelsDir, `${m}.json`));
  const n = crops.shape[0];
  const res = { gender: [], age_bins: [], age: [], emotion: [], real: [], live: [] };
  for (let i = 0; i < n; i++) {
    const image = tf.slice(crops, [i, 0, 0, 0], [1, -1, -1, -1]);
    // faceres.ts enhance() + predict()
    {
      const shape = models.faceres.inputs[0].shape;
      const crop = tf.image.resizeBilinear(image, [shape[2], shape[1]], false);
      const norm = tf.mul(crop, tf.scalar(255.0, 'float32'));
      tf.dispose(crop);
      const resT = execute(models.faceres, norm);
      tf.dispose(norm);
      const gender = await resT.find((t) => t.shape[1] === 1).data();
      const ageT = resT.find((t) => t.shape[1] === 100);
      const argmax = tf.argMax(ageT, 1);
      const ageIdx = (await argmax.data())[0];
      tf.dispose(argmax);
      const all = await ageT.data();
      res.age.push(Math.round(all[ageIdx - 1] > all[ageIdx + 1] ? 10 * ageIdx - 100 * all[ageIdx - 1] : 10 * ageIdx + 100 * all[ageIdx + 1]) / 10);
      res.gender.push(gender[0]);
      res.age_bins.push(...all);
      tf.dispose(resT);
    }
    // emotion.ts predict(), 1-channel model
    {
      const inputSize = models.emotion.inputs[0].shape[2];
      const t = {};
      t.resize = tf.image.resizeBilinear(image, [inputSize, inputSize], false);
      t.channels = tf.mul(t.resize, tf.tensor1d([0.2989, 0.5870, 0.1140], 'float32'));
      t.grayscale = tf.sum(t.channels, 3, true);
      t.grayscaleSub = tf.sub(t.grayscale, tf.scalar(0.5, 'float32'));
      t.grayscaleMul = tf.mul(t.grayscaleSub, tf.scalar(2.0, 'float32'));
      t.emotion = execute(models.emotion, t.grayscaleMul)[0];
      res.emotion.push(...(await t.emotion.data()));
      Object.values(t).forEach((x) => tf.dispose(x));
    }
    // antispoof.ts and liveness.ts predict(): resize, execute, first value
    for (const [name, key] of [['antispoof', 'real'], ['liveness', 'live']]) {
      const shape = models[name].inputs[0].shape;
      const resize = tf.image.resizeBilinear(image, [shape[2], shape[1]], false);
      const out = execute(models[name], resize)[0];
      tf.dispose(resize);
      res[key].push((await values(out))[0]);
    }
    tf.dispose(image);
  }
  Object.values(models).forEach((m) => m.dispose());
  const dir = path.join(outDir, 'attributes');
  fs.mkdirSync(dir, { recursive: true });
  const files = { crops: 'attributes/crops.npy' };
  writeNpy(path.join(outDir, files.crops), crops.shape, await crops.data());
  const shapes = { gender: [n], age_bins: [n, 100], age: [n], emotion: [n, 7], real: [n], live: [n] };
  for (const [k, v] of Object.entries(res)) {
    files[k] = `attributes/${k}.npy`;
    writeNpy(path.join(outDir, files[k]), shapes[k], Float32Array.from(v));
  }
  return { faces: n, files, reference: 'Human 3.3.6 faceres.ts / emotion.ts / antispoof.ts / liveness.ts, batch 1' };
}
