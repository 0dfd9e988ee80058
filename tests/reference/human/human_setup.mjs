// Human 3.3.6 on TF.js wasm, offline, set up ONE way for every peer script here
// (human_speed.mjs: eval speed's peer; peer_server.mjs: bench server's peer service):
// the same models (blazeface + facemesh + faceres from the given folder), the same config.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

// file:// URLs -> an IOHandler reading model.json and its weight shards with fs (without
// tfjs-node nothing else handles file://). This package has its own tfjs-core instance, so
// tests/reference/lib.mjs's handler cannot be shared.
export function fileRouter(url) {
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

// A loaded Human on the wasm backend: face detection (BlazeFace, up to `maxFaces`), facemesh and
// the faceres description (embedding); everything else off; no frame-to-frame caching.
// Throws an Error when the wasm backend is not the one selected.
// attributes: also run emotion, antispoof and liveness (human_attributes.mjs), with every
// emotion and gender reported (minConfidence 0).
export async function createHuman({ modelsDir, threads = 1, maxFaces = 100, attributes = false }) {
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
      iris: { enabled: false }, attention: { enabled: false }, gear: { enabled: false },
      emotion: attributes ? { enabled: true, modelPath: 'emotion.json', minConfidence: 0 } : { enabled: false },
      antispoof: attributes ? { enabled: true, modelPath: 'antispoof.json' } : { enabled: false },
      liveness: attributes ? { enabled: true, modelPath: 'liveness.json' } : { enabled: false },
      description: { enabled: true, modelPath: 'faceres.json', ...(attributes ? { minConfidence: 0 } : {}) },
    },
    body: off, hand: off, object: off, gesture: off, segmentation: off,
  });
  await human.load();
  if (human.tf.getBackend() !== 'wasm') throw new Error(`Human selected backend '${human.tf.getBackend()}', not wasm`);
  return human;
}

// Photos for the peers: JPEG (jpeg-js) or binary PPM (P6), as `facekit eval` writes them from its
// own decode so that both sides see the same pixels.
// Binary PPM (P6, maxval 255), as written by `facekit eval speed` from its own decode.
export function readPpm(buf, file) {
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

export function decode(file) {
  const buf = fs.readFileSync(file);
  if (/\.ppm$/i.test(file)) return readPpm(buf, file);
  const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048, maxResolutionInMP: 400 });
  return { width: img.width, height: img.height, data: img.data };
}
