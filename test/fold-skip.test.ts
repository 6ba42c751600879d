// fold-skip.ts: which store templates start a sum at the term they add to it.
// The fold must apply only where the sum is read once, as an operand of `+`
// whose other operand reads no sum — elsewhere moving the term would change
// the value (a sum read twice would get the term twice).

import { describe, expect, it } from 'vitest';
import { foldSkipTerms } from '../codegen/lower/fold-skip.ts';
import { add, call, f, mul, v, type PExpr } from '../codegen/plan/ast.ts';

const acc = v('$acc0'), acc1 = v('$acc1'), x = v('x'), z = v('z');
const fold = (...store: PExpr[]): ReturnType<typeof foldSkipTerms> => foldSkipTerms({ store }, ['acc0', 'acc1']);

describe('folding the term a store adds to a sum into the sum\'s start', () => {
  it('(Σ + D·u)·silu(z), Mamba-1\'s output: the sum starts at D·u, the store reads it alone', () => {
    const r = fold(mul(add(acc, mul(v('D'), v('u'))), call('silu', z)));
    expect(r.accInit[0]).toEqual(mul(v('D'), v('u')));
    expect(r.store[0]).toEqual(mul(acc, call('silu', z)));
    expect(r.accInit[1]).toEqual(f(0));
  });

  it('either operand order, and inside a call: tanh(x + Σ)', () => {
    const r = fold(call('tanh', add(x, acc)));
    expect(r.accInit[0]).toEqual(x);
    expect(r.store[0]).toEqual(call('tanh', acc));
  });

  it('not when the sum is read twice, nor when the other operand reads a sum', () => {
    const twice = fold(add(add(acc, x), mul(acc, z)));
    expect(twice.accInit[0]).toEqual(f(0));
    expect(twice.store[0]).toEqual(add(add(acc, x), mul(acc, z)));
    const two = fold(add(acc, mul(acc1, x)));
    expect(two.accInit).toEqual([f(0), f(0)]);
    expect(two.store[0]).toEqual(add(acc, mul(acc1, x)));
  });

  it('not when the sum is not an operand of +: Σ·x, Σ − x', () => {
    for (const s of [mul(acc, x), { k: 'bin', op: '-', a: acc, b: x } as PExpr]) {
      const r = fold(s);
      expect(r.accInit[0]).toEqual(f(0));
      expect(r.store[0]).toEqual(s);
    }
  });
});
