// Device buffers: the one GPUBuffer shape every kernel binding uses, and the
// staging dance needed to read one back.

import type { DeviceBuffer } from '../backend.js';

let nextBufferUid = 1;

/**
 * Bytes actually allocated for a logical size: a whole number of 16-byte
 * vec4s, at least one. Kernels may bind a tensor as array<vec4<f32>> (for
 * 16-byte loads), whose length is the binding size ÷ 16, so the last
 * elements must not fall in a partial vec4; WebGPU copies work in 4-byte
 * units anyway, and a zero-byte request stays valid.
 */
export function physicalSize(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

export class WebGpuBuffer implements DeviceBuffer {
  /** Logical size the caller asked for; reads return exactly this many bytes. */
  readonly bytes: number;
  readonly gpu: GPUBuffer;
  /** Identity for bind-group caching (GPUBuffer objects are not hashable by content). */
  readonly uid: number;
  /** The backend that made it: buffers cannot cross devices. */
  readonly owner: object;
  destroyed = false;

  constructor(owner: object, device: GPUDevice, bytes: number, label?: string) {
    this.owner = owner;
    this.bytes = bytes;
    this.uid = nextBufferUid++;
    // Every kernel buffer is a storage buffer that can also be the source and
    // destination of copies (write() and read() go through the queue).
    this.gpu = device.createBuffer({
      label: label ?? `buffer#${this.uid}`,
      size: physicalSize(bytes),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }
}

/**
 * Writes `data` at offset 0. queue.writeBuffer wants a multiple of 4 bytes,
 * so an odd-sized view (say, three f16 values) is copied into a padded one;
 * the pad bytes land in the buffer's own rounding slack.
 */
export function writeToBuffer(queue: GPUQueue, buffer: WebGpuBuffer, data: ArrayBufferView): void {
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 !== 0) {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    bytes = padded;
  }
  if (bytes.byteLength === 0) return;
  // WebGPU's IDL takes [AllowShared] views; @webgpu/types narrows that to
  // ArrayBuffer-backed ones, hence the cast.
  queue.writeBuffer(buffer.gpu, 0, bytes as Uint8Array<ArrayBuffer>, 0, bytes.byteLength);
}

/**
 * Storage buffers cannot be mapped, so a read copies into a MAP_READ staging
 * buffer and maps that. The copy is submitted after everything already queued,
 * so the result reflects all earlier launches and writes.
 */
export async function readFromBuffer(
  device: GPUDevice,
  buffer: WebGpuBuffer,
  submitCopy: (encode: () => GPUCommandBuffer) => void,
): Promise<ArrayBuffer> {
  const size = buffer.gpu.size;
  const staging = device.createBuffer({
    label: `readback of ${buffer.gpu.label}`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    submitCopy(() => {
      const encoder = device.createCommandEncoder({ label: staging.label });
      encoder.copyBufferToBuffer(buffer.gpu, 0, staging, 0, size);
      return encoder.finish();
    });
    await staging.mapAsync(GPUMapMode.READ);
    // slice() copies: the mapped range is detached by unmap().
    const out = staging.getMappedRange(0, size).slice(0, buffer.bytes);
    staging.unmap();
    return out;
  } finally {
    staging.destroy();
  }
}
