// Runs an .onnx model with ONNX Runtime on .npy inputs (NCHW, as the model expects)
// and writes one .npy per output.
//   node run_onnx.mjs MODEL.onnx OUT_DIR IN0.npy [IN1.npy ...] [--runtime web|node] [--threads N]
import fs from 'node:fs';
import path from 'node:path';
import { loadOrt, createSession, runSession, readNpy, writeNpy } from './lib.mjs';

const args = process.argv.slice(2);
let runtime = 'web', threads = 1;
const pos = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--runtime') runtime = args[++i];
  else if (args[i] === '--threads') threads = Number(args[++i]);
  else pos.push(args[i]);
}
if (pos.length < 3) {
  console.error('usage: node run_onnx.mjs MODEL.onnx OUT_DIR IN0.npy [IN1.npy ...] [--runtime web|node] [--threads N]');
  process.exit(2);
}
const [model, outDir, ...inFiles] = pos;
const rt = await loadOrt(runtime, threads);
const session = await createSession(rt, model);
if (inFiles.length !== session.inputNames.length) {
  console.error(`${model} has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}), got ${inFiles.length} files`);
  process.exit(2);
}
const inputs = {};
session.inputNames.forEach((name, i) => { inputs[name] = readNpy(inFiles[i]); });
const out = await runSession(rt, session, inputs);
fs.mkdirSync(outDir, { recursive: true });
for (const [k, name] of session.outputNames.entries()) {
  const file = path.join(outDir, `output${k}.npy`);
  writeNpy(file, out[name].shape, out[name].data);
  console.log(`${name} [${out[name].shape}] -> ${file}`);
}
