// Peer service for `facekit bench server`: the Human library (@vladmandic/human) behind the
// same HTTP contract as facekit's processing server, on the TF.js wasm backend in Node,
// offline (models read from disk).
//
//   node tests/reference/human/peer_server.mjs --port P [--models DIR] [--threads N]
//        [--host 127.0.0.1] [--max-faces 100] [--max-queue 0] [--warmup PHOTO.jpg]
//
// --threads: only 1 works in Node (the wasm backend's thread pool needs blob: workers,
//   which Node refuses); the flag is kept so the command line names the setting.
// --models: the folder holding Human's model files (faceres.json...) or a folder with a
//   `human/` subfolder holding them (facekit's models root); default $FK_MODELS_DIR/human or
//   <repo>/models/human. --port 0 picks a free port. --max-queue 0 = unbounded queue.
//
// Readiness: prints exactly `listening on <port>` (the bound port) on stdout once the models
// are loaded, warmed up and the socket listens; all other logging goes to stderr.
// SIGTERM/SIGINT: stops accepting, answers 503 to new requests, finishes the queued ones, exits 0.
//
// Contract (like facekit's server):
//   POST /v1/faces, body = the raw JPEG file (the body is sniffed, the Content-Type is not
//   checked; any API key header is accepted and ignored)
//   -> 200 {"faces": [{"box": [x0,y0,x1,y1], "score": s, "mesh_score": m, "embedding_dim": N}], "width", "height",
//           "ms": {"queue", "decode", "detect"}}
//   -> 4xx/5xx {"error": {"code", "message"}}: 400 bad_image, 404 not_found, 405, 413 too_large,
//      415 unsupported_media_type (this peer decodes JPEG only), 429 queue_full (with
//      --max-queue, Retry-After: 1), 503 shutting_down, 500 internal.
//   GET /healthz -> 200 {"status": "ok", "queued": n}
//
// The work per request is the same as human_speed.mjs (and facekit's fast tier): JPEG decode
// (jpeg-js, pure JS, as a real service receives files) + face detection (blazeface) + facemesh
// + description (faceres), one request at a time: requests wait in a FIFO queue, like the
// single-worker peer service that facekit's server replaces. A face counts (is returned) when
// Human gave it a description embedding, as in human_speed.mjs.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import jpeg from 'jpeg-js';

import { createHuman } from './human_setup.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');

function log(msg) { process.stderr.write(`peer ${new Date().toISOString()}: ${msg}\n`); }
function fail(msg) {
  process.stderr.write(`peer_server: ${msg}\n`);
  process.exit(1);
}

// ---- command line -------------------------------------------------------------------
const kValueFlags = new Set(['--port', '--models', '--threads', '--host', '--max-faces', '--max-queue', '--warmup']);
const flags = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!kValueFlags.has(a)) fail(`unknown argument '${a}' (usage: peer_server.mjs --port P [--models DIR] [--threads N])`);
  if (i + 1 >= process.argv.length) fail(`${a} needs a value`);
  flags[a] = process.argv[++i];
}
if (flags['--port'] === undefined) fail('--port is required (0 picks a free port)');
const port = Number(flags['--port']);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port '${flags['--port']}'`);
const host = flags['--host'] ?? '127.0.0.1';
const threads = Number(flags['--threads'] ?? '1');
if (!Number.isInteger(threads) || threads < 1) fail(`bad --threads '${flags['--threads']}'`);
// tfjs-backend-wasm's multi-threaded build starts its pool from blob: worker URLs, which
// Node refuses (ERR_WORKER_PATH): in Node the wasm backend runs on one thread only.
if (threads > 1) fail(`--threads ${threads}: the TF.js wasm backend cannot start worker threads in Node (blob: workers are refused); use --threads 1`);
const maxFaces = Number(flags['--max-faces'] ?? '100');
const maxQueue = Number(flags['--max-queue'] ?? '0');
if (!Number.isInteger(maxQueue) || maxQueue < 0) fail(`bad --max-queue '${flags['--max-queue']}'`);
const kMaxBody = 64 * 1024 * 1024;

function resolveModels() {
  const given = flags['--models'] ?? (process.env.FK_MODELS_DIR ? process.env.FK_MODELS_DIR : path.join(root, 'models'));
  for (const d of [given, path.join(given, 'human')])
    if (fs.existsSync(path.join(d, 'faceres.json'))) return path.resolve(d);
  fail(`Human models (faceres.json...) not found in ${given} nor ${path.join(given, 'human')} (run scripts/fetch_models.sh)`);
}
const modelsDir = resolveModels();



class HttpError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function decodeJpeg(buf) {
  if (buf.length < 3 || buf[0] !== 0xff || buf[1] !== 0xd8 || buf[2] !== 0xff)
    throw new HttpError(415, 'unsupported_media_type', 'this peer decodes JPEG only (body does not start with a JPEG marker)');
  try {
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048, maxResolutionInMP: 400 });
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new HttpError(400, 'bad_image', `cannot decode the JPEG body: ${e && e.message ? e.message : e}`);
  }
}

async function detectFaces(human, img) {
  const t = human.tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
  let res;
  try {
    res = await human.detect(t);
  } finally {
    human.tf.dispose(t);
  }
  if (res.error) throw new HttpError(500, 'internal', `Human detect failed: ${res.error}`);
  const faces = [];
  for (const f of res.face) {
    const dim = Array.isArray(f.embedding) || ArrayBuffer.isView(f.embedding) ? f.embedding.length : 0;
    if (dim === 0) continue;  // counted like human_speed.mjs: a face with a description embedding
    const [x, y, w, h] = f.box;
    const r = (v) => Math.round(v * 10) / 10;
    const q = (v) => Math.round((v ?? 0) * 1e4) / 1e4;
    // score: the detector's confidence (boxScore), like facekit's; mesh_score: facemesh's.
    faces.push({ box: [r(x), r(y), r(x + w), r(y + h)], score: q(f.boxScore ?? f.score), mesh_score: q(f.faceScore), embedding_dim: dim });
  }
  return faces;
}

// ---- the service --------------------------------------------------------------------
async function main() {
  let human;
  try {
    human = await createHuman({ modelsDir, threads, maxFaces });  // the same setup as human_speed.mjs
  } catch (e) {
    fail(e.message);
  }

  // Warm-up (kernels compiled, weights uploaded) before announcing readiness.
  const warm = flags['--warmup'] ? decodeJpeg(fs.readFileSync(flags['--warmup']))
                                 : { width: 320, height: 240, data: new Uint8Array(320 * 240 * 3).fill(128) };
  await detectFaces(human, warm);

  // One request at a time: a FIFO promise chain; `pending` counts the queued + running ones.
  let chain = Promise.resolve();
  let pending = 0;
  let shuttingDown = false;
  // Each job starts from a macrotask (setImmediate): Human's awaits resolve as microtasks
  // on the wasm backend, so without this the whole queue would run in one microtask burst,
  // starving the event loop (answers not flushed, new requests and SIGTERM not seen).
  const nextTick = () => new Promise((resolve) => setImmediate(resolve));
  const enqueue = (job) => {
    pending++;
    const p = chain.then(nextTick).then(job).finally(() => { pending--; });
    chain = p.catch(() => {});
    return p;
  };

  const send = (res, status, obj, extraHeaders = {}) => {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...extraHeaders });
    res.end(body);
  };
  const sendError = (res, status, code, message, extra = {}) => send(res, status, { error: { code, message } }, extra);

  const server = http.createServer((req, res) => {
    const url = (req.url || '/').split('?')[0];
    if (shuttingDown) {
      req.resume();
      return sendError(res, 503, 'shutting_down', 'the peer is shutting down', { Connection: 'close' });
    }
    if (url === '/healthz' && req.method === 'GET') return send(res, 200, { status: 'ok', queued: pending });
    if (url !== '/v1/faces') { req.resume(); return sendError(res, 404, 'not_found', `no endpoint ${url}`); }
    if (req.method !== 'POST') { req.resume(); return sendError(res, 405, 'method_not_allowed', 'use POST', { Allow: 'POST' }); }
    // The body is sniffed, whatever the Content-Type says: JPEG is decoded, anything else is 415.
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > kMaxBody) tooLarge = true; else chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (tooLarge) return sendError(res, 413, 'too_large', `body over ${kMaxBody} bytes`);
      if (size === 0) return sendError(res, 400, 'bad_image', 'empty body (send the JPEG file as the request body)');
      if (maxQueue > 0 && pending >= maxQueue)
        return sendError(res, 429, 'queue_full', `${pending} requests queued`, { 'Retry-After': '1' });
      const body = Buffer.concat(chunks, size);
      const tq = process.hrtime.bigint();
      enqueue(async () => {
        const t0 = process.hrtime.bigint();
        const img = decodeJpeg(body);
        const t1 = process.hrtime.bigint();
        const faces = await detectFaces(human, img);
        const t2 = process.hrtime.bigint();
        const ms = (a, b) => Math.round(Number(b - a) / 1e4) / 100;
        send(res, 200, { faces, width: img.width, height: img.height, ms: { queue: ms(tq, t0), decode: ms(t0, t1), detect: ms(t1, t2) } });
      }).catch((e) => {
        if (res.headersSent) return;
        if (e instanceof HttpError) sendError(res, e.status, e.code, e.message);
        else sendError(res, 500, 'internal', e && e.message ? e.message : String(e));
      });
    });
  });
  server.keepAliveTimeout = 60000;
  server.headersTimeout = 65000;
  server.requestTimeout = 0;  // a queued request may wait long at high concurrency

  const shutdown = (sig) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${sig}: stopping (finishing ${pending} queued request(s))`);
    server.close();
    chain.then(() => {
      // The last answers were handed to their sockets; let them flush, then go.
      server.closeIdleConnections();
      setTimeout(() => process.exit(0), 100);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  server.on('error', (e) => fail(`cannot listen on ${host}:${port}: ${e.message}`));
  server.listen(port, host, () => {
    const bound = server.address().port;
    log(`Human ${human.version} on tfjs ${human.tf.version_core} ${human.tf.getBackend()} (simd ${human.tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads ${threads}), models ${modelsDir}`);
    log(`requests are processed one at a time (FIFO queue${maxQueue > 0 ? `, max ${maxQueue}, then 429` : ', unbounded'}); JPEG bodies only`);
    process.stdout.write(`listening on ${bound}\n`);
  });
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
