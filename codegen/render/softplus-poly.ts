// softplus(x) = max(x, 0) + log1p(exp(-|x|)), with log1p on [0, 1] as t·q(t)
// and q a degree-8 polynomial. Both renderers print it (only the spelling of
// fma, exp and max differs), for two reasons:
// - accuracy: the argument of log1p is never near 0 in relative terms lost to
//   `1 + e` rounding, and no approximate log is evaluated near 1 (GPU logs,
//   Vulkan's included, have an absolute error bound there, which is a large
//   relative one for the small dt Mamba trains with);
// - cost: one exp and 8 FMAs, against log1pf's ~25 instructions (CUDA) or an
//   exp, a log and a division with branches (WGSL).
// Past x ≈ 17, log1p(exp(-x)) is below half an ulp of x, so the result equals
// the reference's `x > 20 ? x : …` without the branch. Max relative error over
// [-40, 40], fp32 arithmetic with an exactly rounded exp: 2.0e-7.

/**
 * log1p(t)/t on [0, 1], lowest degree first: a weighted least-squares fit of
 * the relative error (Lawson iterations), rounded to fp32; max relative error
 * 6.4e-8 before rounding of the evaluation.
 */
export const LOG1P_01: readonly number[] = [
  0.9999999403953552, -0.4999949336051941, 0.3331909775733948, -0.2484298199415207, 0.19106006622314453,
  -0.13663244247436523, 0.07822593301534653, -0.029505226761102676, 0.005232691299170256,
];

export interface SoftplusSpelling {
  /** fused multiply-add a·b + c */
  fma: (a: string, b: string, c: string) => string;
  /** an f32 literal */
  lit: (v: number) => string;
}

/** The expression log1p(t) for t in [0, 1], by Horner's rule on LOG1P_01. */
export function log1pOf01(t: string, s: SoftplusSpelling): string {
  let q = s.lit(LOG1P_01[LOG1P_01.length - 1]!);
  for (let k = LOG1P_01.length - 2; k >= 0; k--) q = s.fma(q, t, s.lit(LOG1P_01[k]!));
  return `${t} * ${q}`;
}
