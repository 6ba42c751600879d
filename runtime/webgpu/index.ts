// Public surface of the WebGPU backend. Everything else in this folder is
// an implementation detail of WebGpuBackend.

export { openWebGpu, limitsFromDevice, type OpenWebGpuOptions } from './adapter.ts';
export { WebGpuBackend, type WebGpuAdapterSummary, type WebGpuBackendInit } from './backend.ts';
export { WebGpuError, type WebGpuErrorKind } from './errors.ts';
export { formatCompilationMessages, type WebGpuKernel } from './compile.ts';
export { packParams, paramsByteSize } from './params.ts';
export { physicalSize } from './buffers.ts';
