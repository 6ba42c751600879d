// Turns WebGPU's asynchronous error reporting into thrown Errors.
//
// WebGPU never throws for invalid GPU work: validation and out-of-memory
// errors go to error scopes (promise-based) or, when no scope is open, to the
// device's `uncapturederror` event, and a lost device resolves `device.lost`.
// The Backend contract wants plain exceptions, so every GPU call the backend
// makes runs inside `scoped()`; the scope results are collected here and the
// first failure is rethrown by `check()` (called from sync(), read() and
// timeLaunches()) or handed back at once by `scopedSettled()` (used by compile()).

export type WebGpuErrorKind = 'validation' | 'out-of-memory' | 'internal' | 'lost' | 'compile' | 'usage';

export class WebGpuError extends Error {
  readonly kind: WebGpuErrorKind;
  constructor(kind: WebGpuErrorKind, message: string) {
    super(message);
    this.name = 'WebGpuError';
    this.kind = kind;
  }
}

function kindOf(error: GPUError): WebGpuErrorKind {
  const name = error.constructor?.name ?? '';
  if (name.includes('OutOfMemory')) return 'out-of-memory';
  if (name.includes('Internal')) return 'internal';
  return 'validation';
}

export class ErrorTracker {
  private readonly device: GPUDevice;
  private firstError: WebGpuError | null = null;
  private lostError: WebGpuError | null = null;
  private destroyed = false;
  /** Scope results not yet settled; check() waits for these. */
  private readonly pending = new Set<Promise<void>>();

  constructor(device: GPUDevice) {
    this.device = device;
    void device.lost.then((info) => {
      // Losing the device because we destroyed it is not an error.
      if (this.destroyed) return;
      this.lostError = new WebGpuError('lost', `WebGPU device lost (${info.reason}): ${info.message}`);
    });
    // Anything that escapes the scopes (should be rare) still surfaces at the
    // next check() instead of being printed to stderr by Dawn and forgotten.
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.record(new WebGpuError(kindOf(ev.error), `WebGPU uncaptured error: ${ev.error.message}`));
    };
  }

  markDestroyed(): void {
    this.destroyed = true;
  }

  /** Throws at once if the device can no longer be used. */
  assertUsable(): void {
    if (this.destroyed) throw new WebGpuError('usage', 'WebGPU backend used after destroy()');
    if (this.lostError) throw this.lostError;
  }

  /**
   * Runs synchronous GPU calls inside validation and out-of-memory scopes.
   * The scopes are pushed and popped without an await in between, so
   * concurrent async work can never land in someone else's scope.
   * Errors are recorded, prefixed with `context`, and thrown by check().
   */
  scoped<T>(context: string, fn: () => T): T {
    this.assertUsable();
    const settled = this.scopedPromise(context, fn);
    this.track(settled.scopes);
    return settled.result;
  }

  /**
   * Like scoped(), but waits for the scopes and returns their error (if any)
   * next to the result, so the caller can explain the error with the objects
   * it created (compile() reads the shader's compilation messages).
   */
  async scopedSettled<T>(context: string, fn: () => T): Promise<{ result: T; error: WebGpuError | null }> {
    this.assertUsable();
    const { result, scopes } = this.scopedPromise(context, fn);
    return { result, error: await scopes };
  }

  /** Waits for every outstanding scope and throws the first error seen since the last check. */
  async check(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    if (this.lostError) throw this.lostError;
    const error = this.firstError;
    if (error) {
      // Report each failure once: the caller (an autotuner, say) may carry on
      // with other kernels after a bad one.
      this.firstError = null;
      throw error;
    }
  }

  private record(error: WebGpuError): void {
    this.firstError ??= error;
  }

  private track(scopes: Promise<WebGpuError | null>): void {
    const done: Promise<void> = scopes.then((error) => {
      if (error) this.record(error);
      this.pending.delete(done);
    });
    this.pending.add(done);
  }

  private scopedPromise<T>(context: string, fn: () => T): { result: T; scopes: Promise<WebGpuError | null> } {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: fn() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    // Popped even when fn threw a JS exception, so the scope stack stays balanced.
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    const scopes = Promise.all([validation, oom]).then(
      ([v, o]) => {
        const e = v ?? o;
        return e ? new WebGpuError(kindOf(e), `${context}: ${e.message}`) : null;
      },
      (reason: unknown) => new WebGpuError('internal', `${context}: popErrorScope failed: ${String(reason)}`),
    );
    if (!outcome.ok) {
      // The JS exception wins; whatever the scopes caught is kept for check().
      this.track(scopes);
      throw outcome.error;
    }
    return { result: outcome.value, scopes };
  }
}
