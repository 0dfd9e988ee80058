#!/usr/bin/env python3
# Host simulation of the GPU top-k (src/engine/cuda/search_topk.cu TopKKernel, thread by thread
# within each pass, atomics in random order) and of the tile / merge loop of
# src/engine/cuda/search_gpu.cpp Search(), checked against a sort on random data with ties,
# k = 1..128, fewer rows than k, several chunks, tiles and segments. Needs numpy. Run:
#   python3 tests/gallery/gpu_topk_sim.py
# Keep it in step with the kernel when the kernel changes (it is what was checked without a GPU).
import numpy as np, random, sys
NEG = -np.inf
SORTCAP, PASS = 2048, 1024

def before(a_s, a_p, b_s, b_p):
    ua = a_p.astype(np.int64) & 0xffffffff; ub = b_p.astype(np.int64) & 0xffffffff
    return (a_s > b_s) | ((a_s == b_s) & (ua < ub))

def bitonic(ss, sp, n):
    size = 2
    while size <= n:
        stride = size >> 1
        while stride > 0:
            t = np.arange(n >> 1)
            i = 2 * t - (t & (stride - 1)); j = i + stride
            a, b, ap, bp = ss[i].copy(), ss[j].copy(), sp[i].copy(), sp[j].copy()
            fwd = (i & size) == 0
            sw = np.where(fwd, before(b, bp, a, ap), before(a, ap, b, bp))
            ss[i] = np.where(sw, b, a); ss[j] = np.where(sw, a, b)
            sp[i] = np.where(sw, bp, ap); sp[j] = np.where(sw, ap, bp)
            stride >>= 1
        size <<= 1

def padded_k(k):
    kp = 16
    while kp < k: kp <<= 1
    return kp

def block(S, P, pos_base, b, e, k):
    kp = padded_k(k)
    ss = np.full(SORTCAP, np.float32(np.nan), np.float32); sp = np.full(SORTCAP, 12345, np.int32)  # garbage
    ss[:kp] = NEG; sp[:kp] = -1
    st = {'cnt': 0, 'thr': NEG}
    cap = SORTCAP - kp
    def flush(c):
        n = kp
        while n < kp + c: n <<= 1
        ss[kp + c:n] = NEG; sp[kp + c:n] = -1
        bitonic(ss, sp, n)
        st['cnt'] = 0
        st['thr'] = ss[k - 1] if sp[k - 1] >= 0 else NEG
    base = b
    while base < e:
        t = st['thr']
        items = list(range(base, min(e, base + PASS))); random.shuffle(items)
        for i in items:
            s = S[i]
            if s > t:
                slot = st['cnt']; st['cnt'] += 1
                assert slot < cap
                ss[kp + slot] = s; sp[kp + slot] = P[i] if P is not None else pos_base + i
        c = st['cnt']
        if c > cap - PASS: flush(c)
        base += PASS
    c = st['cnt']
    if c > 0: flush(c)
    return ss[:k].copy(), sp[:k].copy()

def stage1(scores, nq, n, ld, seg, k, pos_base, cs, cp, out_ld, slot0):
    nseg = (n + seg - 1) // seg
    for q in range(nq):
        for s in range(nseg):
            o_s, o_p = block(scores[q * ld:q * ld + ld], None, pos_base, s * seg, min(n, s * seg + seg), k)
            at = q * out_ld + (slot0 + s) * k
            cs[at:at + k] = o_s; cp[at:at + k] = o_p

def stage2(cs, cp, nq, ld, first, count, k):
    for q in range(nq):
        S = cs[q * ld + first:q * ld + first + count].copy(); P = cp[q * ld + first:q * ld + first + count].copy()
        o_s, o_p = block(S, P, 0, 0, count, k)
        cs[q * ld:q * ld + k] = o_s; cp[q * ld:q * ld + k] = o_p

def search(X, Q, k, chunks_caps, tile, seg):
    count = X.shape[0]; nq = Q.shape[0]
    nseg_max = (tile + seg - 1) // seg
    ld = (1 + nseg_max) * k
    cs = np.full(nq * ld, np.float32(7.0), np.float32); cp = np.full(nq * ld, 999999, np.int32)  # garbage
    first = True; start = 0
    for cap in chunks_caps:
        rows = min(cap, count - start)
        if rows <= 0: break
        for r0 in range(0, rows, tile):
            tr = min(tile, rows - r0)
            ldc = (tr + 7) // 8 * 8
            S2 = np.full((nq, ldc), np.float32(1e9), np.float32)  # garbage padding must never be read
            S2[:, :tr] = (Q @ X[start + r0:start + r0 + tr].T).astype(np.float32)
            S = S2.reshape(-1)
            nseg = (tr + seg - 1) // seg
            stage1(S, nq, tr, ldc, seg, k, start + r0, cs, cp, ld, 1)
            stage2(cs, cp, nq, ld, k if first else 0, (nseg if first else nseg + 1) * k, k)
            first = False
        start += cap
    out = []
    for q in range(nq):
        out.append((cs[q * ld:q * ld + k].copy(), cp[q * ld:q * ld + k].copy()))
    return out

def check(X, Q, k, res):
    S = Q @ X.T
    for q, (s, p) in enumerate(res):
        valid = p >= 0
        nvalid = min(k, X.shape[0])
        assert valid.sum() == nvalid, (valid.sum(), nvalid)
        assert np.all(valid[:nvalid])
        pv = p[:nvalid]; sv = s[:nvalid]
        assert len(set(pv.tolist())) == nvalid, "dup"
        assert np.allclose(S[q, pv].astype(np.float32), sv), "score mismatch"
        assert np.all(np.diff(sv) <= 0), "not sorted"
        true = np.sort(S[q].astype(np.float32))[::-1][:nvalid]
        assert np.array_equal(np.sort(sv)[::-1], true), ("topk mismatch", q, sv[:5], true[:5])

random.seed(1); rng = np.random.default_rng(1)
cases = [  # n, dim, nq, k, caps, tile, seg, ties
    (5000, 8, 2, 10, [4096, 8192], 4096, 1500, False),
    (5000, 8, 2, 100, [4096, 8192], 4096, 4096, False),
    (3, 8, 2, 10, [4096], 4096, 4096, False),
    (4099, 8, 2, 20, [4096, 8192], 4096, 4096, False),
    (4101, 8, 3, 5, [4096, 8192], 4096, 1000, True),
    (9000, 4, 3, 128, [4096, 8192], 2048, 4096, True),
    (7000, 4, 2, 1, [4096, 8192], 4096, 700, True),
    (12000, 8, 1, 33, [4096, 8192], 8192, 4096, False),
]
for (n, d, nq, k, caps, tile, seg, ties) in cases:
    X = rng.standard_normal((n, d)).astype(np.float32)
    if ties: X = np.round(X * 2) / 2
    Q = rng.standard_normal((nq, d)).astype(np.float32)
    if ties: Q = np.round(Q)
    res = search(X, Q, k, caps, tile, seg)
    check(X, Q, k, res)
    print("ok", n, d, nq, k, tile, seg, ties)
