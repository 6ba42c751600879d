// The schedule space of a program: one axis per knob the program declares
// (whatever knobs the Schedule type grows, the program's `schedule` carries
// them all), each axis the declared candidate values. Nothing here knows what
// a knob means; the lowering decides that, the resource model and the
// measurements decide which point is best.

import type { Schedule } from '../../codegen/compile.js';
import type { Program } from '../../dsl/ir.js';

export type KnobName = keyof Program['schedule'];

/** One value per knob: a point of the space. */
export type Knobs = Record<KnobName, number>;

/** A point of the space is a schedule the compiler takes (a compile error here means a knob went missing from Program['schedule']). */
export const asSchedule = (k: Knobs): Schedule => k;

export interface KnobAxis {
  name: KnobName;
  /** Distinct candidate values, ascending: neighbours along the axis are adjacent values. */
  values: number[];
}

export interface ScheduleSpace {
  axes: KnobAxis[];
  /** The program's default (first declared value of every knob): always a point of the space. */
  defaults: Knobs;
}

export type SpaceOverride = Partial<Record<KnobName, readonly number[]>>;

/**
 * The space a program declares, or the override's values for the knobs it
 * names. The default value of every knob is kept in the space, so the tuned
 * result can always be compared with the default schedule.
 */
export function scheduleSpace(p: Program, override: SpaceOverride = {}): ScheduleSpace {
  const names = Object.keys(p.schedule) as KnobName[];
  for (const k of Object.keys(override)) {
    if (!names.includes(k as KnobName)) throw new Error(`${p.name}: unknown schedule knob '${k}' (knobs: ${names.join(', ')})`);
  }
  const defaults = {} as Knobs;
  const axes = names.map((name) => {
    const declared = p.schedule[name];
    if (declared.length === 0) throw new Error(`${p.name}: schedule knob '${name}' has no candidate values`);
    defaults[name] = declared[0]!;
    const given = override[name] ?? declared;
    for (const v of given) if (!Number.isInteger(v) || v < 0) throw new Error(`${p.name}: schedule knob '${name}' value ${v} is not a non-negative integer`);
    const values = [...new Set([...given, declared[0]!])].sort((a, b) => a - b);
    return { name, values };
  });
  return { axes, defaults };
}

/** Number of points (before any is rejected). */
export function spaceSize(s: ScheduleSpace): number {
  return s.axes.reduce((n, a) => n * a.values.length, 1);
}

/** A point from per-axis value indices. */
export function pointAt(s: ScheduleSpace, idx: readonly number[]): Knobs {
  const k = {} as Knobs;
  s.axes.forEach((a, i) => (k[a.name] = a.values[idx[i]!]!));
  return k;
}

/** Per-axis value indices of a point (-1 where a value is not on the axis). */
export function indexOf(s: ScheduleSpace, k: Knobs): number[] {
  return s.axes.map((a) => a.values.indexOf(k[a.name]));
}

/** Every point, the last axis varying fastest. */
export function allPoints(s: ScheduleSpace): Knobs[] {
  const out: Knobs[] = [];
  const idx = s.axes.map(() => 0);
  const n = spaceSize(s);
  for (let c = 0; c < n; c++) {
    out.push(pointAt(s, idx));
    for (let a = s.axes.length - 1; a >= 0; a--) {
      if (++idx[a]! < s.axes[a]!.values.length) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Canonical text of a schedule (keys sorted; absent optional knobs omitted): cache keys and identity. */
export function scheduleKey(s: Schedule | Knobs | Readonly<Record<string, number>>): string {
  return Object.entries(s as object)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
}

/** Short human text: the knobs that vary in the space (all of them if none varies). */
export function formatSchedule(k: Schedule | Knobs | Readonly<Record<string, number>>, space?: ScheduleSpace): string {
  const entries = Object.entries(k as object).filter(([, v]) => v !== undefined);
  const varying = space ? entries.filter(([name]) => (space.axes.find((a) => a.name === name)?.values.length ?? 1) > 1) : entries;
  return (varying.length ? varying : entries).map(([n, v]) => `${n}=${String(v)}`).join(' ');
}
