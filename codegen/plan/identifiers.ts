// A program's tensors and dims are printed under their own names, next to
// the names a lowering declares (variables, loop counters, vector-load names,
// workgroup arrays), the renderers' fixed names and each target language's
// keywords. A tensor or dim named like a keyword or a fixed name does not
// compile; one named like a lowering's variable breaks where that variable is
// in scope: at the kernel's top level (CUDA: a redeclared parameter) or
// wherever the tensor is read or written while the variable hides it.
// compileKernel refuses such a program, naming what to rename, instead of
// printing a kernel that fails to compile with a message about generated
// code, or that reads the wrong thing.

import type { KernelPlan, PExpr, PStmt } from './ast.js';
import { exprChildren } from './walk.js';

/** Identifiers the renderers themselves print in every kernel (plus any name starting with `sf_`: helpers, shared memory). */
const RENDERER_NAMES: Record<'wgsl' | 'cuda', readonly string[]> = {
  wgsl: ['lid', 'wg', 'nwg', 'P', 'Params', 'sg_lane', 'sg_size', 'vi', 'vv'],
  cuda: ['vi', 'vv', 'threadIdx', 'blockIdx', 'blockDim', 'gridDim', 'warpSize', 'min', 'max'],
};

/** Keywords and reserved words of each target language that are plausible tensor names. */
const KEYWORDS: Record<'wgsl' | 'cuda', readonly string[]> = {
  wgsl: [
    'alias', 'array', 'atomic', 'bitcast', 'bool', 'break', 'case', 'const', 'continue', 'continuing', 'default', 'diagnostic', 'discard', 'else',
    'enable', 'f16', 'f32', 'false', 'fn', 'for', 'i32', 'if', 'let', 'loop', 'mat2x2', 'mat3x3', 'mat4x4', 'override', 'ptr', 'requires', 'return',
    'sampler', 'struct', 'switch', 'true', 'u32', 'var', 'vec2', 'vec3', 'vec4', 'while', 'workgroup', 'storage', 'uniform', 'private', 'function',
    'ref', 'self', 'type', 'null', 'module', 'mod', 'match', 'new', 'static', 'this', 'with', 'do', 'goto', 'handle', 'layout', 'macro', 'unsafe',
  ],
  cuda: [
    'auto', 'bool', 'break', 'case', 'char', 'class', 'const', 'continue', 'default', 'delete', 'do', 'double', 'else', 'enum', 'extern', 'false',
    'float', 'for', 'goto', 'half', 'if', 'inline', 'int', 'long', 'new', 'operator', 'private', 'protected', 'public', 'register', 'return',
    'short', 'signed', 'sizeof', 'static', 'struct', 'switch', 'template', 'this', 'throw', 'true', 'try', 'typedef', 'union', 'unsigned',
    'using', 'virtual', 'void', 'volatile', 'while', 'asm', 'namespace', 'friend', 'mutable', 'typename', 'nullptr',
  ],
};

/**
 * The first of the program's tensors and dims whose name clashes with what
 * the kernel declares or the target reserves, and why; undefined when there
 * is none. (The compiler's own bindings and parameters, `sf_…`, are not
 * asked about.)
 */
export function identifierClash(plan: KernelPlan, target: 'wgsl' | 'cuda', program: { tensors: readonly string[]; dims: readonly string[] }): { name: string; what: string } | undefined {
  const kinds = new Map<string, string>([...program.tensors.map((n) => [n, 'tensor'] as const), ...program.dims.map((n) => [n, 'dim'] as const)]);
  for (const [name, kind] of kinds) {
    if (name.startsWith('sf_') || RENDERER_NAMES[target].includes(name)) return { name, what: `${kind} '${name}' has the name of an identifier every ${target === 'cuda' ? 'CUDA' : 'WGSL'} kernel uses` };
    if (KEYWORDS[target].includes(name)) return { name, what: `${kind} '${name}' is a ${target === 'cuda' ? 'C++/CUDA' : 'WGSL'} keyword or reserved word` };
    if (plan.shared.some((s) => s.name === name)) return { name, what: `${kind} '${name}' has the name of a workgroup array of ${plan.name}` };
  }
  const hit = hiddenUse(plan.body, kinds);
  return hit ? { name: hit, what: `${kinds.get(hit)} '${hit}' has the name of a variable ${plan.name} declares where the ${kinds.get(hit)} is needed` } : undefined;
}

/**
 * A program name that a declaration hides where it is used, or that the
 * kernel's top level redeclares. Matrix fragments expand to registers named
 * `<fragment>_<k>` and temporaries `<id>_…`: they count as declarations of
 * every name with that prefix.
 */
function hiddenUse(body: PStmt[], names: ReadonlyMap<string, string>): string | undefined {
  const uses = (e: PExpr, visible: (n: string) => boolean): string | undefined => {
    const here = (e.k === 'load' && visible(e.buf) && e.buf) || (e.k === 'param' && visible(e.name) && e.name);
    if (here) return here;
    for (const c of exprChildren(e)) {
      const u = uses(c, visible);
      if (u) return u;
    }
    return undefined;
  };
  const block = (ss: PStmt[], outer: readonly Set<string>[], prefixes: readonly string[], top: boolean): string | undefined => {
    const mine = new Set<string>();
    const scopes = [...outer, mine];
    const pre = [...prefixes];
    const visible = (n: string): boolean => names.has(n) && (scopes.some((s) => s.has(n)) || pre.some((p) => n.startsWith(`${p}_`)));
    const declare = (n: string): string | undefined => {
      mine.add(n);
      return top && names.has(n) ? n : undefined;
    };
    for (const s of ss) {
      let hit: string | undefined;
      switch (s.k) {
        case 'decl': hit = uses(s.init, visible) ?? declare(s.name); break;
        case 'assign': hit = uses(s.value, visible); break;
        case 'sstore': hit = uses(s.index, visible) ?? uses(s.value, visible); break;
        case 'store': hit = (visible(s.buf) ? s.buf : undefined) ?? uses(s.index, visible) ?? uses(s.value, visible); break;
        case 'vload': hit = (visible(s.buf) ? s.buf : undefined) ?? uses(s.index, visible) ?? s.names.map(declare).find(Boolean); break;
        case 'svload': hit = uses(s.index, visible) ?? s.names.map(declare).find(Boolean); break;
        case 'svstore': hit = uses(s.index, visible) ?? s.values.map((x) => uses(x, visible)).find(Boolean); break;
        case 'vstore': hit = (visible(s.buf) ? s.buf : undefined) ?? uses(s.index, visible) ?? s.values.map((x) => uses(x, visible)).find(Boolean); break;
        case 'for': hit = uses(s.from, visible) ?? uses(s.to, visible) ?? uses(s.step, visible) ?? block(s.body, [...scopes, new Set([s.v])], pre, false) ?? (s.until ? uses(s.until, (n) => visible(n) || (n === s.v && names.has(n))) : undefined); break;
        case 'if': hit = uses(s.c, visible) ?? block(s.then, scopes, pre, false) ?? block(s.else, scopes, pre, false); break;
        case 'prefetch': hit = (visible(s.buf) ? s.buf : undefined) ?? uses(s.index, visible); break;
        case 'acopy': hit = (visible(s.buf) ? s.buf : undefined) ?? uses(s.index, visible) ?? uses(s.src, visible) ?? uses(s.valid, visible); break;
        case 'mma': pre.push(s.frag.name, s.id); hit = uses(s.a.base, visible) ?? uses(s.b.base, visible); break;
        default: break;
      }
      if (hit) return hit;
    }
    return undefined;
  };
  return block(body, [], [], true);
}
