// Finds a WebGPU adapter and opens a device on it with the largest limits
// the adapter offers.
//
// Order: a real GPU first (Vulkan on Linux), then the CPU through Mesa's
// llvmpipe behind Dawn's OpenGL ES backend in compatibility mode, which is
// what a GPU-less CI machine has. A software adapter found on the GPU path
// (lavapipe, SwiftShader) is skipped there: we asked for a GPU, and timings
// from it would be silently meaningless.

import type { DeviceLimits } from '../backend.js';
import { WebGpuBackend, type WebGpuAdapterSummary } from './backend.js';
import { loadDawn } from './dawn.js';

export interface OpenWebGpuOptions {
  /**
   * Which path to try first (default 'gpu'); the other is the fallback.
   * 'cpu' tries Dawn's OpenGL ES backend first, which is llvmpipe on a
   * machine without a GPU driver but may be the GPU's own GL driver on one
   * with it; `adapter.adapterKind` says which was found.
   */
  prefer?: 'gpu' | 'cpu';
}

interface Candidate {
  backend: string;
  /** What we hope to find there; the adapter's info decides what it is. */
  kind: 'gpu' | 'cpu';
  featureLevel: 'core' | 'compatibility';
  dawnOptions: string[];
  request: GPURequestAdapterOptions;
}

/** Native GPU backends per platform, most preferred first. */
function gpuBackends(): string[] {
  if (process.platform === 'darwin') return ['metal'];
  if (process.platform === 'win32') return ['d3d12', 'vulkan'];
  return ['vulkan'];
}

function candidates(prefer: 'gpu' | 'cpu'): Candidate[] {
  const gpus: Candidate[] = gpuBackends().map((backend) => ({
    backend,
    kind: 'gpu',
    featureLevel: 'core',
    // Naming the backend (rather than letting Dawn pick) is how we know which
    // one we got: GPUAdapterInfo does not say. Timestamp quantization rounds
    // timestamps to ~100 µs as a browser anti-fingerprinting measure, which
    // would make per-kernel timings useless.
    dawnOptions: [`backend=${backend}`, 'disable-dawn-features=timestamp_quantization'],
    request: { powerPreference: 'high-performance' },
  }));
  // llvmpipe only exposes GLES 3.1+, which Dawn offers as a compatibility-mode
  // adapter; a core-feature-level request finds nothing there.
  const cpu: Candidate = {
    backend: 'opengles',
    kind: 'cpu',
    featureLevel: 'compatibility',
    dawnOptions: ['backend=opengles'],
    request: { featureLevel: 'compatibility' },
  };
  return prefer === 'cpu' ? [cpu, ...gpus] : [...gpus, cpu];
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software rasterizer|microsoft basic render/i;

/** Strings of GPUAdapterInfo, including non-standard ones some Dawn builds add. */
function infoStrings(info: GPUAdapterInfo): { vendor: string; architecture: string; device: string; description: string; driver: string; type: string } {
  const extra = info as unknown as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    driver: str(extra.driver),
    type: str(extra.type),
  };
}

function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const s = infoStrings(info);
  if (info.isFallbackAdapter || s.type.toLowerCase() === 'cpu') return true;
  return SOFTWARE_ADAPTER.test([s.vendor, s.architecture, s.device, s.description].join(' '));
}

/** Limits we raise from the spec defaults to whatever the adapter can do. */
const MAXED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Optional features the kernels or the timer can use. */
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'];

async function openDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const name of MAXED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  return adapter.requestDevice({ label: 'scanforge', requiredLimits, requiredFeatures });
}

export function limitsFromDevice(device: GPUDevice): DeviceLimits {
  const l = device.limits;
  const grid = l.maxComputeWorkgroupsPerDimension;
  return {
    maxWorkgroupStorageBytes: l.maxComputeWorkgroupStorageSize,
    // Kernels are 1-D, so the X extent limits a workgroup as much as the total does.
    maxThreadsPerWorkgroup: Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX),
    maxStorageBuffers: l.maxStorageBuffersPerShaderStage,
    maxGridDim: [grid, grid, grid],
    subgroups: device.features.has('subgroups'),
    subgroupSize: fixedSubgroupSize(device),
    shaderF16: device.features.has('shader-f16'),
    // Buffers are allocated in whole vec4s (buffers.ts physicalSize): a binding's logical bytes may reach the limit rounded down to 16.
    maxBindingBytes: Math.floor(Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize) / 16) * 16,
  };
}

/** The subgroup size, when the adapter reports one size only (NVIDIA: 32); kernels may then rely on it. */
function fixedSubgroupSize(device: GPUDevice): number | undefined {
  if (!device.features.has('subgroups')) return undefined;
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const lo = info?.subgroupMinSize, hi = info?.subgroupMaxSize;
  return lo !== undefined && lo === hi && lo > 0 ? lo : undefined;
}

function describe(c: Candidate, kind: 'gpu' | 'cpu', info: GPUAdapterInfo): { deviceName: string; fingerprint: string } {
  const s = infoStrings(info);
  const name = [s.vendor, s.architecture, s.device || s.description].filter((x) => x.length > 0).join(' ');
  const deviceName = `${name || 'unknown adapter'} (${c.backend}, ${kind})`;
  // Every identifying string, labelled, in a fixed order: stable across runs
  // on one machine and driver, different when either changes.
  const fingerprint = [
    `webgpu/${c.backend}/${c.featureLevel}`,
    `vendor=${s.vendor}`,
    `architecture=${s.architecture}`,
    `device=${s.device}`,
    `description=${s.description}`,
    `driver=${s.driver}`,
  ].join('|');
  return { deviceName, fingerprint };
}

/**
 * Opens the best WebGPU device on this machine. Throws if none can be found,
 * with what was tried and what to install.
 */
export async function openWebGpu(opts: OpenWebGpuOptions = {}): Promise<WebGpuBackend> {
  const create = await loadDawn();
  const tried: string[] = [];
  for (const c of candidates(opts.prefer ?? 'gpu')) {
    const where = `${c.backend} (${c.featureLevel})`;
    let gpu: GPU;
    let adapter: GPUAdapter | null;
    try {
      gpu = create(c.dawnOptions);
      adapter = await gpu.requestAdapter(c.request);
    } catch (error) {
      tried.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (!adapter) {
      tried.push(`${where}: no adapter`);
      continue;
    }
    const software = isSoftwareAdapter(adapter.info);
    if (c.kind === 'gpu' && software) {
      tried.push(`${where}: skipped software adapter '${adapter.info.device || adapter.info.description}'`);
      continue;
    }
    let device: GPUDevice;
    try {
      device = await openDevice(adapter);
    } catch (error) {
      tried.push(`${where}: requestDevice failed: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    // GLES on a machine with a GPU driver is a GPU, so the label comes from
    // the adapter, not from which candidate found it.
    const kind = software ? 'cpu' : 'gpu';
    const { deviceName, fingerprint } = describe(c, kind, adapter.info);
    const s = infoStrings(adapter.info);
    const summary: WebGpuAdapterSummary = {
      backend: c.backend,
      adapterKind: kind,
      featureLevel: c.featureLevel,
      vendor: s.vendor,
      architecture: s.architecture,
      device: s.device,
      description: s.description,
      features: [...device.features].sort(),
    };
    // llvmpipe's loop limiter (gallivm LP_MAX_TGSI_LOOP_ITERATIONS) ends long-running invocations early.
    const limits = { ...limitsFromDevice(device), ...(/llvmpipe/i.test(deviceName) ? { loopIterationLimit: 65535 } : {}) };
    return new WebGpuBackend({ gpu, device, deviceName, fingerprint, limits, adapter: summary });
  }
  throw new Error(
    `no WebGPU adapter: tried ${tried.join('; ')}. ` +
      'Without a GPU, WebGPU runs on the CPU through Mesa llvmpipe: set EGL_PLATFORM=surfaceless and install libegl1 libgles2 libegl-mesa0.',
  );
}
