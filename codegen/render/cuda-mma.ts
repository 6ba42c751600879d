// CUDA's matrix-unit spelling of the plan's `mma` statement: tensor cores
// through mma.sync.aligned.m16n8k16 (sm_80+, fp32 accumulation). Only for
// mma16x8 fragments with bf16/f16 operand precision and k a multiple of 16,
// or 'tf32x3' precision (split fp32, m16n8k8: split32 below) and k a multiple
// of 8; anything else prints as plan/fragment.ts's scalar loops. Operands are read
// from fp32 workgroup arrays and rounded to the operand type in registers
// (arrays stored narrow, plan SharedArray.narrow, are read as they are),
// pairwise (two consecutive k per 32-bit register, the lower k in the low
// half; one 64-bit load where the operand says the pair is adjacent), in the
// fragment layouts the PTX ISA gives for m16n8k16:
//   A (16×16, row-major): a0 = (g, 2q..2q+1), a1 = (g+8, 2q..), a2 = (g, 2q+8..), a3 = (g+8, 2q+8..)
//   B (16×8,  col-major): b0 = (2q..2q+1, g), b1 = (2q+8..2q+9, g)
//   C (16×8):             c0,c1 = (g, 2q..2q+1), c2,c3 = (g+8, 2q..2q+1)
// with g = lane / 4 and q = lane % 4 (plan/fragment.ts places C the same way).
// Causal facts on the statement skip whole tiles (a warp-uniform branch):
// outputLower skips tiles above the diagonal, aLower the k steps past a
// tile row's last row.

import { add, bin, i, lt, mul, v, type MatOperand, type MmaStmt, type PExpr, type SharedArray } from '../plan/ast.js';
import { ldmatrixLane, mmaLane, mmaTiles, operandAt } from '../plan/fragment.js';

export const MMA_HELPERS = [
  '__device__ __forceinline__ unsigned sf_pack_bf16(float lo, float hi) { __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); return *reinterpret_cast<unsigned*>(&v); }',
  '__device__ __forceinline__ unsigned sf_pack_f16(float lo, float hi) { __half2 v = __floats2half2_rn(lo, hi); return *reinterpret_cast<unsigned*>(&v); }',
  '__device__ __forceinline__ unsigned sf_pack_bf162(float2 v) { return sf_pack_bf16(v.x, v.y); }',
  '__device__ __forceinline__ unsigned sf_pack_f162(float2 v) { return sf_pack_f16(v.x, v.y); }',
  '__device__ __forceinline__ unsigned sf_join16(unsigned short lo, unsigned short hi) { return (unsigned)lo | ((unsigned)hi << 16); }',
];

/** The f32 value of the low or high 16-bit half of a 32-bit word holding two bf16/f16 elements (the packers' inverse). */
export function halfOfWord(ty: 'bf16' | 'f16', w: string, hi: boolean): string {
  if (ty === 'bf16') return `__uint_as_float(${hi ? `${w} & 0xffff0000u` : `${w} << 16`})`;
  return `__half2float(__ushort_as_half((unsigned short)(${hi ? `${w} >> 16` : `${w} & 0xffffu`})))`;
}

/** fp32 as tf32 hi + tf32 lo, for the split-fp32 products (split32), where a plan has them. */
export const TF32_SPLIT_HELPER =
  '__device__ __forceinline__ void sf_tf32_split(float x, unsigned& hi, unsigned& lo) { asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(hi) : "f"(x)); asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(lo) : "f"(x - __uint_as_float(hi))); }';

export function cudaMma(s: MmaStmt, e: (x: PExpr) => string, pad: string, shared: SharedArray[] = []): string | undefined {
  if (s.frag.layout.k !== 'mma16x8') return undefined;
  if (s.precision === 'tf32x3') return s.kLen % 8 === 0 ? mmaLoop(s, e, pad, split32(s, e)) : undefined;
  if (s.precision === 'f32' || s.kLen % 16 !== 0) return undefined;
  return mmaLoop(s, e, pad, narrow16(s, e, shared));
}

/** How one precision loads a k step's operand registers and multiplies them (the loop around it is mmaLoop's). */
interface MmaSpelling {
  kStep: number;
  /** Declarations of column tile tj's B registers (all column tiles, once per k step). */
  loadB: (tileCols: PExpr[], kk: PExpr, p1: string) => string[];
  /** Declarations of row tile ti's A registers. */
  loadA: (ti: number, r0: PExpr, kk: PExpr, p2: string) => string[];
  /** The products adding A of row tile ti times B of column tile tj into the accumulators `d`. */
  product: (ti: number, tj: number, d: string[]) => string;
}

/**
 * The k loop over a fragment's tiles: per k step every column tile's B, then per row tile its A and its products.
 * Causal facts skip whole tiles (warp-uniform branches): outputLower the tiles above the diagonal, aLower the k
 * steps past a tile row's last row.
 */
function mmaLoop(s: MmaStmt, e: (x: PExpr) => string, pad: string, sp: MmaSpelling): string {
  const { tileRows, tileCols, acc } = mmaTiles(s.frag);
  const kk = v(`${s.id}_kk`);
  const p1 = `${pad}  `, p2 = `${pad}    `;
  const lines = sp.loadB(tileCols, kk, p1);
  tileRows.forEach((r0, ti) => {
    const body = sp.loadA(ti, r0, kk, p2);
    tileCols.forEach((c0, tj) => {
      const op = sp.product(ti, tj, [0, 1, 2, 3].map((x) => acc(ti, tj, x)));
      // A tile wholly above the diagonal (its first column past the tile row's last row) is not wanted.
      body.push(s.outputLower ? `${p2}if (${e(c0)} <= ${e(add(r0, i(15)))}) ${op}` : `${p2}${op}`);
    });
    // With A lower-triangular, k steps past the tile row's last row add zeros.
    lines.push(s.aLower ? `${p1}if (${e(kk)} <= ${e(add(r0, i(15)))}) {\n${body.join('\n')}\n${p1}}` : `${p1}{\n${body.join('\n')}\n${p1}}`);
  });
  return `${pad}for (int ${s.id}_kk = 0; ${s.id}_kk < ${s.kLen}; ${s.id}_kk += ${sp.kStep}) {\n${lines.join('\n')}\n${pad}}\n`;
}

/** One mma.sync of 16×8 accumulators `d`, A in `a` (4 registers), B in `b` (2). */
function mmaSync(shape: string, types: string, d: string[], a: string[], b: string[]): string {
  return `asm volatile("mma.sync.aligned.${shape}.row.col.f32.${types}.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"` +
    ` : ${d.map((x) => `"+f"(${x})`).join(', ')}` +
    ` : ${a.map((x) => `"r"(${x})`).join(', ')}, ${b.map((x) => `"r"(${x})`).join(', ')});`;
}

/** bf16/f16 operands, m16n8k16: pairs along k packed per register, ldmatrix where the array is stored narrow. */
function narrow16(s: MmaStmt, e: (x: PExpr) => string, shared: SharedArray[]): MmaSpelling {
  const narrowArr = (op: MatOperand): boolean => {
    const n = shared.find((a) => a.name === op.arr)?.narrow;
    if (n && n !== s.precision) throw new Error(`internal: ${op.arr} is stored as ${n}, the product rounds to ${s.precision}`);
    return n !== undefined;
  };
  const { group, pair } = mmaLane();
  const pack = s.precision === 'bf16' ? 'sf_pack_bf16' : 'sf_pack_f16';
  const ty = s.precision === 'bf16' ? 'bf16' : 'f16';
  const k = (kk: PExpr, dk: number): PExpr => add(kk, add(pair, i(dk)));
  /** Two operand elements adjacent along k, packed into one register. */
  const packed = (op: MatOperand, at: (dk: number) => PExpr, kStride: number, dk: number): string => {
    // Stored in the operand type already: a pair adjacent along k is one 32-bit word, else two halves joined.
    if (narrowArr(op)) {
      // The element itself, not its f32 value (which is how `e` prints a narrow array's load).
      const raw = (x: PExpr): string => (x.k === 'sload' ? `${x.arr}[${e(x.index)}]` : e(x));
      if (op.kPairs && kStride === 1) return `*reinterpret_cast<const unsigned*>(&${raw(at(dk))})`;
      return `sf_join16(*reinterpret_cast<const unsigned short*>(&${raw(at(dk))}), *reinterpret_cast<const unsigned short*>(&${raw(at(dk + 1))}))`;
    }
    if (op.kPairs && kStride === 1) return `${pack}2(*reinterpret_cast<const float2*>(&${e(at(dk))}))`;
    return `${pack}(${e(at(dk))}, ${e(at(dk + 1))})`;
  };
  const ldB = ldmatrixable(s.b) && narrowArr(s.b);
  const ldA = ldmatrixable(s.a) && narrowArr(s.a);
  return {
    kStep: 16,
    loadB: (tileCols, kk, p1) => {
      const lines: string[] = [];
      if (ldB) {
        // Two column tiles per x4 (their k halves 0–7 and 8–15), the last one alone by x2.
        for (let tj = 0; tj < tileCols.length; tj += 2) {
          const two = tj + 1 < tileCols.length;
          const regs = [`${s.id}_b${tj}_0`, `${s.id}_b${tj}_1`, ...(two ? [`${s.id}_b${tj + 1}_0`, `${s.id}_b${tj + 1}_1`] : [])];
          // Lane l names row l % 8 of matrix l / 8: matrix m is column tile tj + m / 2, k half m % 2.
          const { matrix: m, row } = ldmatrixLane();
          const col = add(two ? select(lt(m, i(2)), tileCols[tj]!, tileCols[tj + 1]!) : tileCols[tj]!, s.b.rowStride === 1 ? row : i(0));
          const kAt = add(kk, add(mul(mod(m, 2), i(8)), s.b.rowStride === 1 ? i(0) : row));
          lines.push(...ldmatrix(regs, s.b.arr, e(operandIndex(s.b, kAt, col)), s.b.rowStride !== 1, p1));
        }
      } else {
        tileCols.forEach((c0, tj) => {
          const c = add(c0, group);
          const B = (dk: number): string => packed(s.b, (d) => operandAt(s.b, k(kk, d), c), s.b.rowStride, dk);
          lines.push(`${p1}const unsigned ${s.id}_b${tj}_0 = ${B(0)};`, `${p1}const unsigned ${s.id}_b${tj}_1 = ${B(8)};`);
        });
      }
      return lines;
    },
    loadA: (ti, r0, kk, p2) => {
      if (ldA) {
        // Matrix m = l / 8 is rows 8·(m % 2) … and k half m / 2; stored along k (colStride 1) lane l names row l % 8, transposed its k.
        const { matrix: m, row } = ldmatrixLane();
        const rAt = add(r0, add(mul(mod(m, 2), i(8)), s.a.colStride === 1 ? row : i(0)));
        const kAt = add(kk, add(mul(div(m, 2), i(8)), s.a.colStride === 1 ? i(0) : row));
        return ldmatrix([0, 1, 2, 3].map((n) => `${s.id}_a${ti}_${n}`), s.a.arr, e(operandIndex(s.a, rAt, kAt)), s.a.colStride !== 1, p2);
      }
      const r = add(r0, group), r8 = add(r0, add(group, i(8)));
      const A = (rr: PExpr, dk: number): string => packed(s.a, (d) => operandAt(s.a, rr, k(kk, d)), s.a.colStride, dk);
      return [A(r, 0), A(r8, 0), A(r, 8), A(r8, 8)].map((x, n) => `${p2}const unsigned ${s.id}_a${ti}_${n} = ${x};`);
    },
    product: (ti, tj, d) => mmaSync('m16n8k16', `${ty}.${ty}`, d, [0, 1, 2, 3].map((n) => `${s.id}_a${ti}_${n}`), [`${s.id}_b${tj}_0`, `${s.id}_b${tj}_1`]),
  };
}

/**
 * fp32 operands as two tf32 halves each (hi = x rounded to tf32, lo = x − hi rounded again), m16n8k8, three
 * products per tile — lo·hi and hi·lo first, then hi·hi — so the result carries ~21 bits of each operand instead of
 * tf32's 10 (the lo·lo term, ~2^-22 relative, is dropped). Fragment layouts (PTX ISA, m16n8k8 .tf32):
 *   A (16×8): a0 = (g, q), a1 = (g+8, q), a2 = (g, q+4), a3 = (g+8, q+4);  B (8×8): b0 = (q, g), b1 = (q+4, g)
 * with g = lane / 4, q = lane % 4; C as m16n8k16's.
 */
function split32(s: MmaStmt, e: (x: PExpr) => string): MmaSpelling {
  const { group, quad: q } = mmaLane();
  const split = (name: string, x: PExpr, p: string): string => `${p}unsigned ${name}_h, ${name}_l; sf_tf32_split(${e(x)}, ${name}_h, ${name}_l);`;
  const half = (names: string[], h: 'h' | 'l'): string[] => names.map((n) => `${n}_${h}`);
  const aRegs = (ti: number): string[] => [0, 1, 2, 3].map((n) => `${s.id}_a${ti}_${n}`);
  const bRegs = (tj: number): string[] => [`${s.id}_b${tj}_0`, `${s.id}_b${tj}_1`];
  return {
    kStep: 8,
    loadB: (tileCols, kk, p1) => tileCols.flatMap((c0, tj) => {
      const c = add(c0, group);
      return [0, 4].map((dk, n) => split(bRegs(tj)[n]!, operandAt(s.b, add(kk, add(q, i(dk))), c), p1));
    }),
    loadA: (ti, r0, kk, p2) => {
      const r = add(r0, group), r8 = add(r0, add(group, i(8)));
      const at: [PExpr, number][] = [[r, 0], [r8, 0], [r, 4], [r8, 4]];
      return at.map(([rr, dk], n) => split(aRegs(ti)[n]!, operandAt(s.a, rr, add(kk, add(q, i(dk)))), p2));
    },
    product: (ti, tj, d) => {
      const mma = (a: 'h' | 'l', b: 'h' | 'l'): string => mmaSync('m16n8k8', 'tf32.tf32', d, half(aRegs(ti), a), half(bRegs(tj), b));
      return `{ ${mma('l', 'h')} ${mma('h', 'l')} ${mma('h', 'h')} }`;
    },
  };
}

const div = (a: PExpr, b: number): PExpr => bin('/', a, i(b));
const mod = (a: PExpr, b: number): PExpr => bin('%', a, i(b));
const select = (c: PExpr, a: PExpr, b: PExpr): PExpr => ({ k: 'select', c, a, b });

/** An operand ldmatrix can load (MatOperand.rows16): one unit stride, the other a multiple of 8. */
function ldmatrixable(op: MatOperand): boolean {
  return op.rows16 === true && ((op.colStride === 1 && op.rowStride % 8 === 0) || (op.rowStride === 1 && op.colStride % 8 === 0));
}

/**
 * Declares `regs` (2 or 4 registers) loaded by one ldmatrix: every lane
 * gives the address `arr[index]` of one 16-byte row of the 8×8 matrices
 * (lanes 0–7 the first matrix's rows, 8–15 the second's, …); `trans` when
 * the rows stored are the fragment's columns.
 */
function ldmatrix(regs: string[], arr: string, index: string, trans: boolean, pad: string): string[] {
  const outs = regs.map((_, n) => `"=r"(${regs[n]})`).join(', ');
  const list = regs.map((_, n) => `%${n}`).join(', ');
  return [
    `${pad}unsigned ${regs.join(', ')};`,
    `${pad}asm volatile("ldmatrix.sync.aligned.m8n8.x${regs.length}${trans ? '.trans' : ''}.shared.b16 {${list}}, [%${regs.length}];" : ${outs} : "r"((unsigned)__cvta_generic_to_shared(&${arr}[${index}])));`,
  ];
}

/** Index of element (r, c) of an operand in its array. */
const operandIndex = (op: MatOperand, r: PExpr, c: PExpr): PExpr => add(add(op.base, mul(r, i(op.rowStride))), mul(c, i(op.colStride)));
