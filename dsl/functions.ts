// Functions the step may call. They exist for the editor's type checker: the
// compiler recognises them by name in the parsed step, and calling one at run
// time is a mistake (a step is compiled, never executed).

function compiledOnly(name: string): never {
  throw new Error(`scanforge: ${name}() is only meaningful inside a program's step, which is compiled, not run`);
}

export const exp = (_x: number): number => compiledOnly('exp');
export const log = (_x: number): number => compiledOnly('log');
export const sqrt = (_x: number): number => compiledOnly('sqrt');
export const tanh = (_x: number): number => compiledOnly('tanh');
export const sin = (_x: number): number => compiledOnly('sin');
export const cos = (_x: number): number => compiledOnly('cos');
export const abs = (_x: number): number => compiledOnly('abs');
export const sigmoid = (_x: number): number => compiledOnly('sigmoid');
export const softplus = (_x: number): number => compiledOnly('softplus');
export const silu = (_x: number): number => compiledOnly('silu');
export const max = (_a: number, _b: number): number => compiledOnly('max');
export const min = (_a: number, _b: number): number => compiledOnly('min');
export const pow = (_a: number, _b: number): number => compiledOnly('pow');
/**
 * Remainder with the sign of the divisor (a - b·floor(a/b)). On values it is
 * the float function (an angle kept in [0, 2π)); on index expressions it is
 * integer arithmetic (`mod(n, 2)`, the parity of a state index).
 */
export const mod = (_a: number, _b: number): number => compiledOnly('mod');
/**
 * `a` where the index condition `cond` holds, else `b`. The condition
 * compares index expressions (index variables, dims, integers, + - *, div,
 * mod) with < <= > >= == != and combines them with && || !; it cannot read
 * data. Only the chosen branch is evaluated, so `b` may read, say,
 * angle[div(n, 2)] out of range where `cond` is true.
 */
export const where = (_cond: boolean, _a: number, _b: number): number => compiledOnly('where');
/** Σ over every value of index `i` of `body`. */
export const sum = (_i: number, _body: number): number => compiledOnly('sum');
/** Integer (floor) division of index expressions, e.g. a group index `div(d, div(dim, ngroups))`. */
export const div = (_a: number, _b: number): number => compiledOnly('div');

/** The unary float functions and their arity, as the parser knows them. */
export const MATH_FUNCTIONS = {
  exp: 1, log: 1, sqrt: 1, tanh: 1, sin: 1, cos: 1, abs: 1,
  sigmoid: 1, softplus: 1, silu: 1, max: 2, min: 2, pow: 2, mod: 2,
} as const;
export type MathFn = keyof typeof MATH_FUNCTIONS;
