// Which codegen target and capabilities a backend's kernels are rendered
// for. One place, so that the runner, the autotuner's resource model and its
// cache keys all render exactly the kernel the runner will launch.

import type { Target, TargetCaps } from '../codegen/compile.js';
import type { Backend, DeviceLimits } from './backend.js';

export function targetOf(kind: Backend['kind']): Target {
  return kind === 'cuda' ? 'cuda' : 'wgsl';
}

export function capsOf(limits: DeviceLimits): TargetCaps {
  return { subgroups: limits.subgroups, subgroupSize: limits.subgroupSize, sharedBytes: limits.maxWorkgroupStorageBytes, maxStorageBuffers: limits.maxStorageBuffers, ...(limits.warpgroupMma ? { warpgroupMma: true } : {}) };
}
