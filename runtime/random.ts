// Seeded random test data, so a failing check can be replayed with --seed.
import type { Dist } from '../dsl/decl.js';

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sample(dist: Dist, n: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  if (dist.kind === 'uniform') {
    for (let i = 0; i < n; i++) out[i] = dist.lo + (dist.hi - dist.lo) * next();
    return out;
  }
  for (let i = 0; i < n; i += 2) {
    // Box–Muller: two normals per pair of uniforms.
    const u1 = Math.max(next(), 1e-12), u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = dist.mean + dist.std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = dist.mean + dist.std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
