// The authoring API a program file imports.
export { program, f32, f16, bf16 } from './decl.js';
export type { ProgramSpec, ProgramDecl, TensorSpec, ScheduleSpec, DType, Knob } from './decl.js';
export { exp, log, sqrt, tanh, sin, cos, abs, sigmoid, softplus, silu, max, min, pow, mod, sum, div, where } from './functions.js';
