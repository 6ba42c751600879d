// The source text of a program's `requires` array, so a generated wrapper can
// check the same requirements without importing the program file. Only a
// literal whose closures use nothing but their own parameters and globals can
// be copied; anything else is an error at the user's line and column.

import { Node, SyntaxKind } from 'ts-morph';
import { DslError } from '../../dsl/errors.js';
import type { Program } from '../../dsl/ir.js';
import { findStep, loadSourceFile, locOf } from '../../dsl/parse-step.js';

/** `[[(dims) => ..., 'message'], ...]` as written, or undefined when the program has no requirements. */
export function requiresSource(p: Program): string | undefined {
  if (p.requires.length === 0) return undefined;
  const sf = loadSourceFile(p.file);
  const obj = findStep(sf, p.name).getFirstAncestorByKind(SyntaxKind.ObjectLiteralExpression);
  const prop = obj?.getProperty('requires');
  const init = prop && Node.isPropertyAssignment(prop) ? prop.getInitializer() : undefined;
  if (!init || !Node.isArrayLiteralExpression(init)) {
    throw new DslError(locOf(prop ?? obj ?? sf), `program '${p.name}': write requires as an array literal inside program({...}), so the typed wrapper scanforge build writes can copy it`);
  }
  const [from, to] = [init.getStart(), init.getEnd()];
  for (const id of init.getDescendantsOfKind(SyntaxKind.Identifier)) {
    const decls = id.getSymbol()?.getDeclarations() ?? [];
    const outside = decls.find((d) => d.getSourceFile() === sf && (d.getStart() < from || d.getEnd() > to));
    if (outside) {
      throw new DslError(locOf(id), `program '${p.name}': requires uses '${id.getText()}', declared outside it; the typed wrapper copies requires alone, so use only the dims it is given`);
    }
  }
  return init.getText();
}
