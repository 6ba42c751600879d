// `--schedule` of scanforge build and check: one value per knob, set over the
// program's default schedule, unknown knobs refused with the knobs there are;
// `--ssd-form`, the form of the SSD lowering; `--f32-products`, how its fp32
// programs multiply on CUDA.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProgram } from '../dsl/load.ts';
import { buildProgram } from '../runtime/cli/build.ts';
import { parseScheduleOption, scheduleOverride } from '../runtime/cli/tune.ts';
import { f32ProductsOf, ssdFormOf, ssdOptions } from '../runtime/cli/args.ts';

describe('--schedule', () => {
  it('parses knob=value pairs, one value each', () => {
    expect(parseScheduleOption('lanes=8; items=2;rows=8')).toEqual({ lanes: 8, items: 2, rows: 8 });
    expect(parseScheduleOption(undefined)).toEqual({});
    expect(() => parseScheduleOption('lanes=8,16')).toThrow("--schedule: 'lanes' takes one value, got 8,16");
    expect(() => parseScheduleOption('lanes=-1')).toThrow(/non-negative integers/);
  });

  it("refuses a knob the program does not declare, naming the program's knobs", async () => {
    const p = await loadProgram(new URL('../examples/mamba1.ts', import.meta.url).pathname);
    expect(() => scheduleOverride(p, { lane: 4 })).toThrow("selective_scan: unknown schedule knob 'lane' (knobs: threads, items, rows, rowBlock, lanes, shuffle, tileChunks, prefetch, scatter, stage, segment, chunk)");
  });

  it('build writes every kernel with the knobs set (the state-lanes form here) and says so in the manifests', async () => {
    const p = await loadProgram(new URL('../examples/s4d.ts', import.meta.url).pathname);
    const out = mkdtempSync(path.join(tmpdir(), 'sf-sched-'));
    try {
      const ms = buildProgram(p, { targets: ['wgsl'], out, dims: {}, wgslSubgroups: false, schedule: scheduleOverride(p, { lanes: 4, items: 2, rows: 4 }) });
      expect(ms.length).toBeGreaterThan(1);
      for (const m of ms) {
        expect(m.entry).toMatch(/_l4i2r4$/);
        expect(m.schedule).toMatchObject({ lanes: 4, items: 2, rows: 4 });
      }
      const manifest = readdirSync(out).find((f) => f.endsWith('.wgsl.json'))!;
      expect(JSON.parse(readFileSync(path.join(out, manifest), 'utf8')).schedule.lanes).toBe(4);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('--ssd-form: fused, chunked or wgmma; build writes the wgmma walk for sm_90a where it is asked for', async () => {
    expect(ssdFormOf('wgmma')).toBe('wgmma');
    expect(ssdFormOf(undefined)).toBeUndefined();
    expect(() => ssdFormOf('tiled')).toThrow("--ssd-form must be fused, chunked or wgmma, got 'tiled'");
    const p = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    const out = mkdtempSync(path.join(tmpdir(), 'sf-ssdform-'));
    try {
      const ms = buildProgram(p, { targets: ['cuda'], out, dims: {}, dtype: 'bf16', wgslSubgroups: false, schedule: { ssdForm: 'wgmma' } });
      expect(ms.length).toBeGreaterThan(1);
      for (const m of ms) {
        // G once per group of heads (a first launch), then the walk; both on warpgroup products.
        expect(m.launches!.map((l) => l.entry.replace(/^.*_ssdw_/, ''))).toEqual(['t128q64_g', 't128q64']);
        for (const l of m.launches!) expect(readFileSync(path.join(out, l.source), 'utf8')).toContain('wgmma.mma_async');
      }
      // Where the walk cannot run, the build says why instead of falling back.
      expect(() => buildProgram(p, { targets: ['cuda'], out, dims: {}, dtype: 'f32', wgslSubgroups: false, schedule: { ssdForm: 'wgmma' } })).toThrow(/ssdForm 'wgmma' cannot run mamba2_chunk_scan: it needs bf16 or f16 tensors/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('--f32-products: tf32x3 (CUDA fp32 default) or fma; build writes what is named', async () => {
    expect(f32ProductsOf('fma')).toBe('fma');
    expect(() => f32ProductsOf('tf32')).toThrow("--f32-products must be tf32x3 or fma, got 'tf32'");
    expect(ssdOptions(new Map([['ssd-form', 'chunked'], ['f32-products', 'fma']]))).toEqual({ ssdForm: 'chunked', f32Products: 'fma' });
    expect(ssdOptions(new Map())).toEqual({});
    const p = await loadProgram(new URL('../examples/mamba2.ts', import.meta.url).pathname);
    const out = mkdtempSync(path.join(tmpdir(), 'sf-f32products-'));
    try {
      const entries = (schedule: { f32Products?: 'fma' }): string[] => buildProgram(p, { targets: ['cuda'], out, dims: {}, dtype: 'f32', wgslSubgroups: false, schedule }).map((m) => m.entry);
      // The default kernels carry the split products (suffix x); 'fma' the FMA units' (no suffix).
      expect(entries({}).every((e) => /_ssd_t\d+q\d+x$/.test(e))).toBe(true);
      expect(entries({ f32Products: 'fma' }).every((e) => /_ssd_t\d+q\d+$/.test(e))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
