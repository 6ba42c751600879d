// CUDA's matrix-unit spelling of the plan's `mma` statement: tensor cores
// through mma.sync.aligned.m16n8k16 (sm_80+, fp32 accumulation). Only for
// mma16x8 fragments with bf16/f16 operand precision and k a multiple of 16;
// anything else prints as plan/fragment.ts's scalar loops. Operands are read
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

export function cudaMma(s: MmaStmt, e: (x: PExpr) => string, pad: string, shared: SharedArray[] = []): string | undefined {
  if (s.frag.layout.k !== 'mma16x8' || s.precision === 'f32' || s.kLen % 16 !== 0) return undefined;
  const narrowArr = (op: MatOperand): boolean => {
    const n = shared.find((a) => a.name === op.arr)?.narrow;
    if (n && n !== s.precision) throw new Error(`internal: ${op.arr} is stored as ${n}, the product rounds to ${s.precision}`);
    return n !== undefined;
  };
  const { tileRows, tileCols, acc } = mmaTiles(s.frag);
  const { group, pair } = mmaLane();
  const pack = s.precision === 'bf16' ? 'sf_pack_bf16' : 'sf_pack_f16';
  const ty = s.precision === 'bf16' ? 'bf16' : 'f16';
  const kk = v(`${s.id}_kk`);
  const k = (dk: number): PExpr => add(kk, add(pair, i(dk)));
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
  const A = (r: PExpr, dk: number): string => packed(s.a, (d) => operandAt(s.a, r, k(d)), s.a.colStride, dk);
  const B = (c: PExpr, dk: number): string => packed(s.b, (d) => operandAt(s.b, k(d), c), s.b.rowStride, dk);
  const p1 = `${pad}  `, p2 = `${pad}    `;
  const lines: string[] = [];
  const ldB = ldmatrixable(s.b) && narrowArr(s.b);
  if (ldB) {
    // Two column tiles per x4 (their k halves 0–7 and 8–15), the last one alone by x2.
    for (let tj = 0; tj < tileCols.length; tj += 2) {
      const pair = tj + 1 < tileCols.length;
      const regs = [`${s.id}_b${tj}_0`, `${s.id}_b${tj}_1`, ...(pair ? [`${s.id}_b${tj + 1}_0`, `${s.id}_b${tj + 1}_1`] : [])];
      // Lane l names row l % 8 of matrix l / 8: matrix m is column tile tj + m / 2, k half m % 2.
      const { matrix: m, row } = ldmatrixLane();
      const col = add(pair ? select(lt(m, i(2)), tileCols[tj]!, tileCols[tj + 1]!) : tileCols[tj]!, s.b.rowStride === 1 ? row : i(0));
      const kAt = add(kk, add(mul(mod(m, 2), i(8)), s.b.rowStride === 1 ? i(0) : row));
      lines.push(...ldmatrix(regs, s.b.arr, e(operandIndex(s.b, kAt, col)), s.b.rowStride !== 1, p1));
    }
  } else {
    tileCols.forEach((c0, tj) => {
      const c = add(c0, group);
      lines.push(`${p1}const unsigned ${s.id}_b${tj}_0 = ${B(c, 0)};`, `${p1}const unsigned ${s.id}_b${tj}_1 = ${B(c, 8)};`);
    });
  }
  const ldA = ldmatrixable(s.a) && narrowArr(s.a);
  tileRows.forEach((r0, ti) => {
    const body: string[] = [];
    const r = add(r0, group), r8 = add(r0, add(group, i(8)));
    if (ldA) {
      // Matrix m = l / 8 is rows 8·(m % 2) … and k half m / 2; stored along k (colStride 1) lane l names row l % 8, transposed its k.
      const { matrix: m, row } = ldmatrixLane();
      const rAt = add(r0, add(mul(mod(m, 2), i(8)), s.a.colStride === 1 ? row : i(0)));
      const kAt = add(kk, add(mul(div(m, 2), i(8)), s.a.colStride === 1 ? i(0) : row));
      body.push(...ldmatrix([0, 1, 2, 3].map((n) => `${s.id}_a${ti}_${n}`), s.a.arr, e(operandIndex(s.a, rAt, kAt)), s.a.colStride !== 1, p2));
    } else {
      [A(r, 0), A(r8, 0), A(r, 8), A(r8, 8)].forEach((x, n) => body.push(`${p2}const unsigned ${s.id}_a${ti}_${n} = ${x};`));
    }
    tileCols.forEach((c0, tj) => {
      const d = [0, 1, 2, 3].map((x) => acc(ti, tj, x));
      const op = `asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.${ty}.${ty}.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"` +
        ` : ${d.map((x) => `"+f"(${x})`).join(', ')}` +
        ` : ${[0, 1, 2, 3].map((n) => `"r"(${s.id}_a${ti}_${n})`).join(', ')}, "r"(${s.id}_b${tj}_0), "r"(${s.id}_b${tj}_1));`;
      // A tile wholly above the diagonal (its first column past the tile row's last row) is not wanted.
      body.push(s.outputLower ? `${p2}if (${e(c0)} <= ${e(add(r0, i(15)))}) ${op}` : `${p2}${op}`);
    });
    // With A lower-triangular, k steps past the tile row's last row add zeros.
    lines.push(s.aLower ? `${p1}if (${e(kk)} <= ${e(add(r0, i(15)))}) {\n${body.join('\n')}\n${p1}}` : `${p1}{\n${body.join('\n')}\n${p1}}`);
  });
  return `${pad}for (int ${s.id}_kk = 0; ${s.id}_kk < ${s.kLen}; ${s.id}_kk += 16) {\n${lines.join('\n')}\n${pad}}\n`;
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
