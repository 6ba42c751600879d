import type { SourceLoc } from './ir.js';

/** A mistake in a program, reported at the user's file, line and column. */
export class DslError extends Error {
  constructor(
    readonly loc: SourceLoc,
    readonly detail: string,
  ) {
    super(`${loc.file}:${loc.line}:${loc.column}: ${detail}`);
    this.name = 'DslError';
  }
}
