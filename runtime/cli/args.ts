// Tiny argument parser: positional words and --name value / --name=value / --flag.
import type { Schedule } from '../../codegen/compile.js';

export interface Args {
  positional: string[];
  options: Map<string, string>;
}

export function parseArgs(argv: string[], booleans: string[] = []): Args {
  const positional: string[] = [];
  const options = new Map<string, string>();
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const eq = a.indexOf('=');
    if (eq > 0) { options.set(a.slice(2, eq), a.slice(eq + 1)); continue; }
    const name = a.slice(2);
    if (booleans.includes(name)) { options.set(name, 'true'); continue; }
    const value = argv[k + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`option --${name} needs a value`);
    options.set(name, value);
    k++;
  }
  return { positional, options };
}

/** `batch=2,seqlen=7` → { batch: 2, seqlen: 7 } */
export function parseShape(s: string | undefined): Record<string, number> {
  if (!s) return {};
  const out: Record<string, number> = {};
  for (const part of s.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!k || v === undefined || !Number.isInteger(n) || n < 1) throw new Error(`--shape: '${part}' is not name=positive-integer`);
    out[k.trim()] = n;
  }
  return out;
}

/** `--ssd-form`: which form of the SSD lowering (Schedule.ssdForm); 'wgmma' is CUDA on sm_90a, bf16 or f16 (lower/ssd-wgmma.ts). */
export function ssdFormOf(s: string | undefined): Schedule['ssdForm'] {
  if (s === undefined) return undefined;
  if (s === 'fused' || s === 'chunked' || s === 'wgmma') return s;
  throw new Error(`--ssd-form must be fused, chunked or wgmma, got '${s}'`);
}

/** `--f32-products`: how SSD programs with fp32 tensors multiply on CUDA (Schedule.f32Products; split tf32 is the default). */
export function f32ProductsOf(s: string | undefined): Schedule['f32Products'] {
  if (s === undefined) return undefined;
  if (s === 'tf32x3' || s === 'fma') return s;
  throw new Error(`--f32-products must be tf32x3 or fma, got '${s}'`);
}

/** The SSD lowering's options a command line names (`--ssd-form`, `--f32-products`), to lay over a schedule. */
export function ssdOptions(o: Map<string, string>): Pick<Schedule, 'ssdForm' | 'f32Products'> {
  const ssdForm = ssdFormOf(o.get('ssd-form')), f32Products = f32ProductsOf(o.get('f32-products'));
  return { ...(ssdForm ? { ssdForm } : {}), ...(f32Products ? { f32Products } : {}) };
}
