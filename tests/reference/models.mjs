// The 17 face models facekit is checked against, with the input value range each
// expects (as fed by @vladmandic/human 3.x, which these weights come from) and
// which outputs are embeddings (compared by cosine similarity).
//
// range: [lo, hi] of the input values. Face crops in 0..255 are mapped linearly
// onto it; random inputs are uniform in it.
// gray:  the model takes one grayscale channel (0.2989 R + 0.587 G + 0.114 B).
// embeddings: output node names compared by cosine per row instead of max |diff|.
export const kModels = [
  { name: 'blazeface', range: [-1, 1] },
  { name: 'blazeface-front', range: [-1, 1] },
  { name: 'blazeface-back', range: [-1, 1] },
  { name: 'facemesh', range: [0, 1] },
  { name: 'facemesh-detection-short', range: [-1, 1] },
  { name: 'facemesh-detection-full', range: [-1, 1] },
  { name: 'iris', range: [0, 1] },
  { name: 'faceres', range: [0, 255], embeddings: ['global_pooling/Mean'] },
  { name: 'faceres-deep', range: [0, 255], embeddings: ['global_pooling/Mean'] },
  { name: 'mobileface', range: [0, 255], embeddings: ['batchnorm0/add_1'] },
  { name: 'mobilefacenet', range: [0, 1], embeddings: ['embeddings'] },
  { name: 'liveness', range: [0, 1] },
  { name: 'antispoof', range: [0, 1] },
  { name: 'emotion', range: [-1, 1], gray: true },
  { name: 'gender', range: [-1, 1], gray: true },
  { name: 'age', range: [0, 255] },
  { name: 'gear', range: [0, 1] },
];

// Recognizers: the models whose speed matters most (bench goal: >= 30% of peak).
export const kRecognizers = ['faceres', 'faceres-deep', 'mobileface', 'mobilefacenet'];

export function modelSpec(name) {
  const m = kModels.find((s) => s.name === name);
  if (!m) throw new Error(`unknown model '${name}' (known: ${kModels.map((s) => s.name).join(', ')})`);
  return m;
}
