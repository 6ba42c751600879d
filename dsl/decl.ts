// What a researcher writes: the declarative half of a program (dims,
// tensors, state, schedule). These builders are executed when the program
// file is imported; the `step` function beside them is never executed, it is
// parsed (see parse-step.ts). The types here exist so that the step also
// type-checks as ordinary TypeScript in the user's editor.

export type DType = 'f32' | 'f16' | 'bf16';

/** A tensor declaration: element type and shape as a list of dimension names. */
export interface TensorSpec<R extends number = number, Opt extends boolean = boolean> {
  readonly kind: 'tensor';
  readonly dtype: DType;
  readonly shape: readonly string[];
  readonly optional: Opt;
  /** Phantom field carrying the rank for the step's parameter types. */
  readonly __rank?: R;
  /** How checks draw random values for this tensor (realistic magnitudes matter for SSMs). */
  readonly dist: Dist;
  /** Marks an input as optional: the step tests it with `if (name) { ... }`. */
  optionalInput(): TensorSpec<R, true>;
  /** Checks draw this tensor from N(mean, std²). */
  normal(mean: number, std: number): TensorSpec<R, Opt>;
  /** Checks draw this tensor uniformly from [lo, hi). */
  uniform(lo: number, hi: number): TensorSpec<R, Opt>;
}

/** A distribution for random test inputs. */
export type Dist = { kind: 'normal'; mean: number; std: number } | { kind: 'uniform'; lo: number; hi: number };

type Rank<S extends readonly string[]> = S['length'];

function spec<S extends readonly string[]>(dtype: DType, shape: S): TensorSpec<Rank<S>, false> {
  const make = <O extends boolean>(optional: O, dist: Dist): TensorSpec<Rank<S>, O> => ({
    kind: 'tensor',
    dtype,
    shape: [...shape],
    optional,
    dist,
    optionalInput: () => make(true, dist),
    normal: (mean, std) => make(optional, { kind: 'normal', mean, std }),
    uniform: (lo, hi) => make(optional, { kind: 'uniform', lo, hi }),
  });
  return make(false, { kind: 'normal', mean: 0, std: 1 });
}

/** fp32 tensor over the named dims, e.g. `f32('batch', 'dim', 'seqlen')`. */
export const f32 = <S extends string[]>(...shape: S) => spec('f32', shape);
/** fp16 tensor (fp32 state and arithmetic inside the kernel). */
export const f16 = <S extends string[]>(...shape: S) => spec('f16', shape);
/** bf16 tensor (fp32 state and arithmetic inside the kernel). */
export const bf16 = <S extends string[]>(...shape: S) => spec('bf16', shape);

/** A value of one schedule knob: a fixed number, or the candidates the autotuner may try. */
export type Knob = number | readonly number[];

/**
 * Schedule knobs. Every knob is either fixed or a list of candidates; the
 * first candidate is the default when no tuned configuration exists.
 */
export interface ScheduleSpec {
  /** Threads per workgroup that cooperate along the scan axis. */
  threads?: Knob;
  /** Consecutive scan steps each thread owns inside a chunk (chunk = threads × items). */
  items?: Knob;
  /** Rows of the parallel axes per workgroup (rows that share inputs share them through the cache). */
  rows?: Knob;
  /**
   * Consecutive rows of the last parallel axis each thread handles (chunked
   * diagonal scan): inputs those rows read alike are loaded once for all of them.
   */
  rowBlock?: Knob;
  /**
   * Diagonal scan: 1 (default), a row's threads cooperate along the scan axis
   * (the chunked scan); L > 1, L threads per row each hold state elements and
   * walk the steps one by one (the state-lanes form; `items` is then the
   * steps each lane prepares per chunk, so a chunk is L × items steps).
   */
  lanes?: Knob;
  /**
   * State-lanes form: 0 (default), the lanes of a row pass the step values
   * and the sums' partials through workgroup memory; 1, they keep them in
   * registers and pass them by subgroup shuffles (CUDA warps; WGSL needs
   * subgroups when lanes > 1), with one lane per row allowed: `lanes` 1
   * with `shuffle` 1 is the form with a whole row in one thread.
   */
  shuffle?: Knob;
  /**
   * State-lanes form with `shuffle` 1: chunks per fill of the staged tiles
   * (default 1). Longer tile spans fill and wait at a barrier less often
   * without adding registers per lane.
   */
  tileChunks?: Knob;
  /**
   * State-lanes form with `shuffle` 1: chunks ahead whose step inputs each
   * chunk asks the L2 cache to fetch (default 0, none; CUDA only, a hint
   * elsewhere ignored).
   */
  prefetch?: Knob;
  /**
   * State-lanes form with `shuffle` 1: 1, a row's partial sums are added by
   * reduce-scatter (lanes − 1 shuffles per lanes steps) instead of a
   * butterfly per step; needs lanes to divide items.
   */
  scatter?: Knob;
  /**
   * State-lanes form with `shuffle` 1: 1, each chunk's step inputs are
   * copied into workgroup memory a chunk ahead (asynchronous copies on CUDA,
   * plain copies elsewhere) and read there, and the outputs are stored as a
   * stream the cache should not keep.
   */
  stage?: Knob;
  /**
   * State-lanes form: steps per segment of the scan axis (default 0, no
   * split). With few rows the sequence is cut into segments run in
   * parallel: a first launch finds each segment's end state from zero and
   * its decay, a second passes the states across segments, a third runs
   * every segment from its true initial state and stores the outputs. A
   * multiple of lanes × items × tileChunks; needs every update linear in its
   * own state alone.
   */
  segment?: Knob;
  /** Chunk length for matrix-form lowerings (SSD). */
  chunk?: Knob;
}

/** Index-notation view of a tensor of rank R inside the step. */
export type Indexed<R extends number> = R extends 0
  ? number
  : R extends 1
    ? { [i: number]: number }
    : R extends 2
      ? { [i: number]: { [j: number]: number } }
      : R extends 3
        ? { [i: number]: { [j: number]: { [k: number]: number } } }
        : R extends 4
          ? { [i: number]: { [j: number]: { [k: number]: { [l: number]: number } } } }
          : { [i: number]: { [j: number]: { [k: number]: { [l: number]: { [m: number]: number } } } } };

type View<T> = T extends TensorSpec<infer R, infer O> ? (O extends true ? Indexed<R> | undefined : Indexed<R>) : never;

export type Views<T extends Record<string, TensorSpec>> = { [K in keyof T]: View<T[K]> };

export interface ProgramSpec<
  I extends Record<string, TensorSpec>,
  O extends Record<string, TensorSpec>,
  S extends Record<string, TensorSpec>,
  F extends Record<string, boolean>,
> {
  /** Kernel family name, used for kernel and file names. */
  name: string;
  /** Every dimension name the tensors use. */
  dims: readonly string[];
  /**
   * Dims that kernels are specialised on (compile-time constants, like
   * template parameters): sizes of the state. Each gets a default value.
   */
  static?: Record<string, number>;
  inputs: I;
  outputs: O;
  /**
   * State carried along the scan axis, per element of the parallel axes.
   * Each state `s` automatically gets an optional input `${s}_init` and an
   * optional output `${s}_final`, both shaped (parallel dims..., state dims...).
   */
  state: S;
  /** Compile-time boolean switches the step tests with `if (flag)`; value is the default. */
  flags?: F;
  /** Index variables whose every combination runs independently. */
  parallel: readonly string[];
  /** The index variable that the recurrence walks in order. */
  scan: string;
  /**
   * The recurrence for one step. Parsed, never run: the first parameter
   * destructures index variables, the second tensors, state, flags and dims.
   */
  step: (idx: Record<string, number>, t: Views<I> & Views<O> & Views<S> & { [K in keyof F]: boolean } & Record<string, number>) => void;
  /** Requirements on dims checked before any launch, each with the message shown when it fails. */
  requires?: ReadonlyArray<readonly [(dims: Record<string, number>) => boolean, string]>;
  schedule?: ScheduleSpec;
  /** Dims `scanforge check` uses unless --shape overrides them (small, not tile multiples). */
  checkDims?: Record<string, number>;
}

/** What `program(...)` returns: the spec plus a marker the loader looks for. */
export interface ProgramDecl {
  readonly kind: 'scanforge-program';
  readonly spec: ProgramSpec<Record<string, TensorSpec>, Record<string, TensorSpec>, Record<string, TensorSpec>, Record<string, boolean>>;
}

export function program<
  I extends Record<string, TensorSpec>,
  O extends Record<string, TensorSpec>,
  S extends Record<string, TensorSpec>,
  F extends Record<string, boolean> = Record<string, never>,
>(spec: ProgramSpec<I, O, S, F>): ProgramDecl {
  return { kind: 'scanforge-program', spec: spec as unknown as ProgramDecl['spec'] };
}
