// Work-sharing loops with a trip count the compiler can see. Lowerings
// spread `total` items over a workgroup of T threads as
//   for (e = tid; e < total; e += T) { … }
// which a target compiler must treat as a loop of unknown trip count
// (bounds check, remainder handling, unrolled copies for every case: the
// SSD kernel's SASS was mostly integer code, run 68). Where T divides
// total, every thread runs exactly total / T iterations:
//   for (e_it = 0; e_it < total / T; e_it += 1) { e = tid + e_it·T; … }
// and where total ≤ T, at most one: if (tid < total) { e = tid; … }.
// Same iterations, same order per thread; barriers inside stay uniform.

import { add, decl, i, mul, v, type PExpr, type PStmt } from './ast.js';

const isTid = (x: PExpr): boolean => x.k === 'builtin' && x.b === 'tid';
const lit = (x: PExpr): number | undefined => (x.k === 'lit' && x.ty === 'i32' ? (x.v as number) : undefined);

/** The statements with every work-sharing loop over `threads` threads rewritten where its trip count is static. */
export function staticTrips(stmts: PStmt[], threads: number): PStmt[] {
  return stmts.map((s) => rewrite(s, threads));
}

function rewrite(s: PStmt, T: number): PStmt {
  if (s.k === 'if') return { ...s, then: staticTrips(s.then, T), else: staticTrips(s.else, T) };
  if (s.k !== 'for') return s;
  const body = staticTrips(s.body, T);
  const total = lit(s.to), step = lit(s.step);
  if (!isTid(s.from) || total === undefined || step !== T || s.until) return { ...s, body };
  const own = (at: PExpr): PStmt => decl(s.v, 'i32', at);
  if (total <= T) return { k: 'if', c: { k: 'bin', op: '<', a: s.from, b: i(total) }, then: [own(s.from), ...body], else: [] };
  if (total % T !== 0) return { ...s, body };
  const it = `${s.v}_it`;
  // Kept rolled unless the lowering asked otherwise: unrolled, the compiler hoists every
  // iteration's loads together and spilled (five SSD kernels at their register caps).
  return { k: 'for', v: it, from: i(0), to: i(total / T), step: i(1), body: [own(add(s.from, mul(v(it), i(T)))), ...body], unroll: s.unroll ?? 1 };
}
