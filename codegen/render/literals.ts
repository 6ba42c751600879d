// Float literals: fp32-rounded, 9 significant digits (round-trips), negative
// ones parenthesised so no target reads `a - -1` as anything else.
export function fmtF32(v: number, infinity: (positive: boolean) => string): string {
  if (Number.isNaN(v)) throw new Error('NaN literal');
  if (!Number.isFinite(v)) return infinity(v > 0);
  const s = Math.fround(Math.abs(v)).toPrecision(9);
  const lit = `${s.includes('e') || s.includes('.') ? s : `${s}.0`}f`;
  return v < 0 || Object.is(v, -0) ? `(-${lit})` : lit;
}
