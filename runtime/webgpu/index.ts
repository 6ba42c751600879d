// Public surface of the WebGPU backend. Everything else in this folder is
// an implementation detail of WebGpuBackend.

export { openWebGpu, limitsFromDevice, type OpenWebGpuOptions } from './adapter.js';
export { WebGpuBackend, type WebGpuAdapterSummary, type WebGpuBackendInit } from './backend.js';
export { WebGpuError, type WebGpuErrorKind } from './errors.js';
export { formatCompilationMessages, type WebGpuKernel } from './compile.js';
export { packParams, paramsByteSize } from './params.js';
export { physicalSize } from './buffers.js';
