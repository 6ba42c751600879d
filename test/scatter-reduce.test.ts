// The reduce-scatter of the state-lanes form (lower/shuffle-exchange.ts
// scatterReduce, regroupSums): a row's S lanes each hold a partial of every
// step; the sums must end in the lane that stores each step (lane ℓ owns
// steps items·ℓ …). Subgroup shuffles do not run on the CPU adapter, so the
// emitted statements run here in lockstep over S simulated lanes (each
// shuffle reads its partner's value), on random partials, against sums taken
// directly; the CUDA kernels that use them ran on the H100 (bench/device-check.ts,
// RESULTS runs 77 and 79).

import { describe, expect, it } from 'vitest';
import type { PExpr, PStmt } from '../codegen/plan/ast.ts';
import { regroupSums, scatterReduce } from '../codegen/lower/shuffle-exchange.ts';

/** Runs straight-line statements in S lanes at once; returns each lane's variables. */
function runLanes(S: number, stmts: PStmt[], init: Map<string, number>[]): Map<string, number>[] {
  const env = init.map((m, lane) => new Map([...m, ['lane', lane]]));
  const ev = (x: PExpr): number[] => {
    switch (x.k) {
      case 'lit': return env.map(() => Number(x.v));
      case 'var': return env.map((m) => {
        const got = m.get(x.name);
        if (got === undefined) throw new Error(`unknown variable ${x.name}`);
        return got;
      });
      case 'select': {
        const c = ev(x.c), a = ev(x.a), b = ev(x.b);
        return c.map((t, l) => (t ? a[l]! : b[l]!));
      }
      case 'shuffle': {
        if (x.mode !== 'xor') throw new Error(`shuffle mode ${x.mode} not simulated`);
        const a = ev(x.a), b = ev(x.b);
        return a.map((_, l) => a[l ^ b[l]!]!);
      }
      case 'bin': {
        const a = ev(x.a), b = ev(x.b);
        const op = (p: number, q: number): number => {
          switch (x.op) {
            case '+': return p + q;
            case '-': return p - q;
            case '*': return p * q;
            case '/': return Math.trunc(p / q); // only lane arithmetic divides here
            case '%': return p % q;
            case '==': return Number(p === q);
            case '!=': return Number(p !== q);
            default: throw new Error(`op ${x.op} not simulated`);
          }
        };
        return a.map((p, l) => op(p, b[l]!));
      }
      default: throw new Error(`expression ${x.k} not simulated`);
    }
  };
  for (const s of stmts) {
    if (s.k === 'decl') ev(s.init).forEach((val, l) => env[l]!.set(s.name, val));
    else if (s.k === 'assign') ev(s.value).forEach((val, l) => env[l]!.set(s.name, val));
    else throw new Error(`statement ${s.k} not simulated`);
  }
  return env;
}

describe('reduce-scatter of a row\'s partial sums, simulated lane by lane', () => {
  for (const [S, items] of [[2, 2], [2, 4], [2, 8], [4, 4], [4, 8], [4, 16]] as const) {
    it(`lanes ${S}, items ${items}: each lane ends with the sums of its own steps`, () => {
      const TB = S * items;
      // part[lane][step]: this lane's share of the step's sum (non-integers: the simulator truncates only lane arithmetic).
      const part = Array.from({ length: S }, (_, l) => Array.from({ length: TB }, (_, t) => Math.sin(7.1 * l + 3.3 * t + 0.5) * 10 + 0.25));
      const stmts: PStmt[] = [];
      for (let g = 0; g < items; g++) {
        stmts.push(...scatterReduce(Array.from({ length: S }, (_, m) => `p${S * g + m}`), `q${g}`, `rs${g}`));
      }
      stmts.push(...regroupSums(S, items, (g) => `q${g}`, (ic) => `o${ic}`, 'rg'));
      const init = part.map((row) => new Map<string, number>([
        ...row.map((x, t): [string, number] => [`p${t}`, x]),
        ...Array.from({ length: items }, (_, g): [string, number] => [`q${g}`, Number.NaN]),
        ...Array.from({ length: items }, (_, ic): [string, number] => [`o${ic}`, Number.NaN]),
      ]));
      const env = runLanes(S, stmts, init);
      for (let l = 0; l < S; l++) {
        for (let ic = 0; ic < items; ic++) {
          const step = items * l + ic;
          const want = part.reduce((a, row) => a + row[step]!, 0);
          expect(env[l]!.get(`o${ic}`), `lane ${l} step ${step}`).toBeCloseTo(want, 12);
        }
      }
      // S − 1 shuffles per S steps, and S − 1 per items / S values to regroup (a butterfly: S·log2 S per S steps).
      const shuffles = JSON.stringify(stmts).match(/"k":"shuffle"/g)?.length ?? 0;
      expect(shuffles).toBe(items * (S - 1) + (S - 1) * (items / S));
    });
  }
});
