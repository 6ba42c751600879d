// temp: build the standard Mamba-2 variant for given SSD schedules and report nvcc registers/spills/smem
import { execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadProgram } from '../../../dsl/load.js';
import { compileKernel } from '../../../codegen/compile.js';
import { specializeFor } from '../../../runtime/program-runner.js';
import { allVariants } from '../../../runtime/variants.js';
const p = await loadProgram(path.resolve('examples/mamba2.ts'));
const dims = { batch: 4, seqlen: 4096, nheads: 80, headdim: 64, ngroups: 1, dstate: 128 };
const variant = allVariants(p).find((v) => JSON.stringify(v).includes('"z"') && !JSON.stringify(v).includes('D_hp') && JSON.stringify(v).includes('dt_bias'))!;
for (const dt of (process.argv[3] ?? 'bf16').split(',')) {
  const sp = specializeFor(p, { ...variant, initStates: [], finalStates: [] }, dims, dt as 'bf16');
  for (const s of process.argv[2]!.split(',')) {
    const m = /^t(\d+)q(\d+)(?:p(\d+))?(?:n(\d+))?$/.exec(s)!;
    const sched = { threads: +m[1]!, items: 4, chunk: +m[2]!, lowering: 'ssd' as const, ...(m[3] ? { headTile: +m[3] } : {}), ...(m[4] ? { nTile: +m[4] } : {}) };
    try {
      const k = compileKernel(sp, 'cuda', sched, { sharedBytes: 227 * 1024, subgroups: true });
      const src = k.kernel.source;
      writeFileSync(`/tmp/ssd/${s}_${dt}.cu`, src);
      const o = execSync(`nvcc -arch=sm_90 -cubin -Xptxas -v -o /tmp/ssd/k.cubin /tmp/ssd/${s}_${dt}.cu 2>&1`).toString();
      console.log(s, dt, 'smem', k.kernel.sharedBytes, (o.match(/Used \d+ registers/) ?? [''])[0], (o.match(/\d+ bytes spill stores/) ?? [''])[0]);
    } catch (e) { console.log(s, dt, 'ERR', (e as Error).message.slice(0, 300)); }
  }
}
