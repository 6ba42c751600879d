// Every variant of a program: each subset of optional inputs, each flag
// setting, each state given/not given initially and asked/not asked finally.
import type { Program, Variant } from '../dsl/ir.js';

function subsets<T>(xs: T[]): T[][] {
  return xs.reduce<T[][]>((acc, x) => [...acc, ...acc.map((s) => [...s, x])], [[]]);
}

export function allVariants(p: Program): Variant[] {
  const optional = p.inputs.filter((t) => t.optional).map((t) => t.name);
  const flagNames = Object.keys(p.flags);
  const states = p.state.map((s) => s.name);
  const out: Variant[] = [];
  for (const present of subsets(optional))
    for (const on of subsets(flagNames))
      for (const initStates of subsets(states))
        for (const finalStates of subsets(states))
          out.push({ present, flags: Object.fromEntries(flagNames.map((f) => [f, on.includes(f)])), initStates, finalStates });
  return out;
}
