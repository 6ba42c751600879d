// The typed wrappers `scanforge build` writes, run on the GPU host: every
// example is built (wgsl + cuda) into out/wrapper-device/<program>/, its
// generated module imported (it imports 'scanforge/prebuilt', which resolves
// to this checkout by the package's self-reference), and called on each
// backend present for the full and the bare variant at the build's static
// dims, L = 257 (the prebuilt source runs) and at the program's check dims (other
// static dims: compiled, with the manifest's schedule), outputs poisoned,
// against the float64 reference. Prints which kernel each call ran.
//   bash .gpu/enter tsx bench/wrapper-device.ts [--programs=gla,selective_scan]
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadPrograms } from '../dsl/load.js';
import { defaultVariant, fullVariant } from '../dsl/specialize.js';
import { buildProgram } from '../runtime/cli/build.js';
import { wrapperFileName } from '../runtime/cli/wrapper-gen.js';
import { randomInputs, relL2, tolerance } from '../runtime/check.js';
import { roundTo } from '../runtime/dtype.js';
import type { PrebuiltProgram } from '../runtime/prebuilt/index.js';
import { specializeFor } from '../runtime/program-runner.js';
import { runReference } from '../runtime/reference/interpret.js';
import { forEachBackend, listArg, type BackendName } from './common.js';

const root = path.resolve(import.meta.dirname, '..');
const only = listArg('programs');
const backends: { name: BackendName }[] = [{ name: 'cuda' }, { name: 'webgpu' }];
let passed = 0, failed = 0;
const modules: { program: Awaited<ReturnType<typeof loadPrograms>>[number]; prebuilt: PrebuiltProgram }[] = [];
for (const f of readdirSync(path.join(root, 'examples')).filter((x) => x.endsWith('.ts')).sort()) {
  let programs;
  try { programs = await loadPrograms(path.join(root, 'examples', f)); } catch (e) { console.log(`${f}: does not load: ${e instanceof Error ? e.message : e}`); failed++; continue; }
  for (const p of programs) {
    if (only && !only.includes(p.name)) continue;
    const out = path.join(root, 'out/wrapper-device', p.name);
    try {
      buildProgram(p, { targets: ['wgsl', 'cuda'], out, dims: {}, wgslSubgroups: false });
    } catch (e) { console.log(`${p.name}: build failed: ${e instanceof Error ? e.message : e}`); failed++; continue; }
    const mod = (await import(pathToFileURL(path.join(out, wrapperFileName(p.name))).href)) as { prebuilt: PrebuiltProgram };
    modules.push({ program: p, prebuilt: mod.prebuilt });
  }
}
await forEachBackend(backends, async (backend, { name }) => {
  console.log(`== ${name}: ${backend.deviceName}`);
  for (const { program: p, prebuilt } of modules) {
    const scanDim = p.indices[p.scan]!.dim;
    const shapes: [string, Record<string, number>][] = [['built static dims', { ...p.checkDims, ...p.staticDims, [scanDim]: 257 }], ['check dims', { ...p.staticDims, ...p.checkDims }]];
    for (const [label, dims] of shapes) for (const v of [fullVariant(p), defaultVariant(p)]) {
      const c = { dims, present: v.present, initStates: v.initStates, finalStates: v.finalStates, flags: v.flags, seed: 17 };
      const inputs = randomInputs(p, c);
      try {
        const { choice, dims: resolved } = await prebuilt.plan(inputs, { backend, finalStates: v.finalStates, dims });
        const got = await prebuilt.run(inputs, { backend, finalStates: v.finalStates, dims, poison: true });
        const sp = specializeFor(p, v, resolved);
        const ref = runReference(sp, resolved, Object.fromEntries(sp.used.map((t) => [t.name, roundTo(t.dtype, inputs[t.name]!.data)])));
        const L = resolved[p.indices[p.scan]!.dim]!;
        const errs = Object.entries(ref).map(([k, r]) => ({ k, ...relL2(got[k]!.data, r) }));
        const ok = errs.every((e) => e.nan === 0 && e.relL2 <= tolerance('f32', L));
        if (ok) passed++; else failed++;
        const ran = choice.kind === 'prebuilt' ? `prebuilt ${choice.kernel.entry}${choice.kernel.tuned ? ' (tuned)' : ''}` : `compiled (${choice.reason})`;
        console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} ${p.name} ${label} ${v.present.length + v.initStates.length + v.finalStates.length ? 'full' : 'bare'} L=${L}: ${ran}: ${errs.map((e) => `${e.k} ${e.relL2.toExponential(2)}${e.nan ? ` nan=${e.nan}` : ''}`).join(', ')}`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name} ${p.name} ${label}: ${e instanceof Error ? e.message : e}`);
      }
    }
  }
});
console.log(`wrapper-device: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
